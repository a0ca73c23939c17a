#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdlib>
#include <unordered_map>
#include <utf8proc.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace sluice {

namespace {

bool is_bpe_token(TokenType t) { return t == TokenType::Normal || t == TokenType::Byte; }
bool is_added_token(TokenType t) { return t == TokenType::Control || t == TokenType::UserDefined; }

const TokenizerSpec& checked(const TokenizerSpec& spec) {
    if (spec.tokens.empty()) fail("{}: the tokenizer has no tokens", spec.source);
    if (spec.types.size() != spec.tokens.size())
        fail("{}: {} token types for {} tokens", spec.source, spec.types.size(), spec.tokens.size());
    return spec;
}

std::unordered_map<std::string, int32_t> bpe_vocab(const TokenizerSpec& spec) {
    std::unordered_map<std::string, int32_t> vocab;
    vocab.reserve(spec.tokens.size());
    for (size_t id = 0; id < spec.tokens.size(); ++id)
        if (is_bpe_token(spec.types[id])) vocab.emplace(spec.tokens[id], int32_t(id));
    return vocab;
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string nfc(std::string_view s) {
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                            utf8proc_ssize_t(s.size()), &out, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) fail("NFC normalisation failed: {}", utf8proc_errmsg(n));
    std::string r(reinterpret_cast<const char*>(out), size_t(n));
    std::free(out);
    return r;
}

}  // namespace

Tokenizer::Tokenizer(const TokenizerSpec& spec)
    : source_(checked(spec).source), added_by_first_byte_(256), pre_(spec.split_patterns, spec.source),
      bpe_(bpe_vocab(spec), spec.merges, spec.source), nfc_(spec.nfc), eos_(spec.eos),
      bos_(spec.bos), add_bos_(spec.add_bos), chat_template_(spec.chat_template) {
    bytes_.resize(spec.tokens.size());
    for (size_t id = 0; id < spec.tokens.size(); ++id) {
        const std::string& text = spec.tokens[id];
        const TokenType type = spec.types[id];
        if (is_bpe_token(type)) {
            auto b = symbols_to_bytes(text);
            if (!b) fail("{}: token {} (\"{}\") is not written in the byte-level alphabet", source_, id, text);
            bytes_[id] = std::move(*b);
        } else if (is_added_token(type)) {
            if (text.empty()) fail("{}: added token {} is empty", source_, id);
            bytes_[id] = text;
            added_by_first_byte_[static_cast<unsigned char>(text[0])].push_back({text, int32_t(id)});
        }
        // Unknown and unused (padding) tokens decode to nothing and are never produced.
    }
    for (auto& group : added_by_first_byte_)
        std::stable_sort(group.begin(), group.end(), [](const Added& a, const Added& b) { return a.text.size() > b.text.size(); });

    if (eos_ < -1 || eos_ >= vocab_size()) fail("{}: eos id {} is outside the vocabulary of {}", source_, eos_, vocab_size());
    if (bos_ < -1 || bos_ >= vocab_size()) fail("{}: bos id {} is outside the vocabulary of {}", source_, bos_, vocab_size());
    if (add_bos_ && bos_ < 0) fail("{}: add_bos_token is true but the tokenizer names no BOS token", source_);
    // Qwen models end a turn with <|im_end|> and a document with <|endoftext|>; whichever the
    // config calls eos, both stop generation (llama.cpp does the same).
    std::vector<int32_t> stops = spec.stop_ids;
    if (eos_ >= 0) stops.push_back(eos_);
    // GLM-4.5 ends an answer by starting the next turn, <|user|> or a tool's <|observation|>;
    // gpt-oss's harmony format ends a final answer with <|return|> and a tool call with <|call|>
    // (its GGUF names only one eos; <|end|> ends a message, after which the answer follows).
    for (const char* t : {"<|im_end|>", "<|endoftext|>", "<|user|>", "<|observation|>", "<|return|>", "<|call|>"})
        if (int32_t id = added_token(t); id >= 0) stops.push_back(id);
    for (int32_t id : stops)
        if (id < 0 || id >= vocab_size()) fail("{}: stop token {} is outside the vocabulary of {}", source_, id, vocab_size());
    std::sort(stops.begin(), stops.end());
    stops.erase(std::unique(stops.begin(), stops.end()), stops.end());
    stop_ids_ = std::move(stops);
}

int32_t Tokenizer::added_token(std::string_view text) const {
    if (text.empty()) return -1;
    for (const Added& a : added_by_first_byte_[static_cast<unsigned char>(text[0])])
        if (a.text == text) return a.id;
    return -1;
}

bool Tokenizer::is_stop(int32_t id) const { return std::binary_search(stop_ids_.begin(), stop_ids_.end(), id); }

void Tokenizer::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    std::string normalised;
    if (nfc_ && !is_ascii(text)) {
        normalised = nfc(text);
        text = normalised;
    }
    pre_.split(text, [&](std::string_view piece) { bpe_.encode(piece, out); });
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
    if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
        fail("text is not valid UTF-8: byte 0x{:02X} at offset {}", static_cast<unsigned char>(text[bad]), bad);
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 1);
    size_t segment = 0;  // start of the text not yet encoded
    for (size_t i = 0; i < text.size();) {
        const Added* hit = nullptr;
        for (const Added& a : added_by_first_byte_[static_cast<unsigned char>(text[i])])
            if (text.compare(i, a.text.size(), a.text) == 0) {
                hit = &a;  // the group is sorted longest first
                break;
            }
        if (!hit) {
            ++i;
            continue;
        }
        encode_segment(text.substr(segment, i - segment), out);
        out.push_back(hit->id);
        i += hit->text.size();
        segment = i;
    }
    encode_segment(text.substr(segment), out);
    return out;
}

std::vector<int32_t> Tokenizer::encode_prompt(std::string_view text) const {
    std::vector<int32_t> ids = encode(text);
    // A chat template writes BOS itself; llama.cpp strips it from the render and adds it back,
    // so a rendered prompt and a plain one both start with one BOS (llama.cpp writes a second
    // one, with a warning, only when plain text spells BOS out; sluice never does).
    if (add_bos_ && (ids.empty() || ids.front() != bos_)) ids.insert(ids.begin(), bos_);
    return ids;
}

void Tokenizer::check_id(int32_t id) const {
    if (id < 0 || id >= vocab_size()) fail("token id {} is outside the vocabulary of {}", id, vocab_size());
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
    check_id(id);
    return bytes_[size_t(id)];
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
    std::string bytes;
    for (int32_t id : ids) bytes += token_bytes(id);
    return to_valid_utf8(bytes);
}

}  // namespace sluice
