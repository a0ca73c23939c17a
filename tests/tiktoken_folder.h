// A tokenizer folder in Kimi-K2's Hugging Face layout (tiktoken.model and tokenizer_config.json
// with added_tokens_decoder, no tokenizer.json) made from a byte-level BPE tokenizer whose ids
// are its ranks, as Qwen's are: the first n_ranks tokens become tiktoken.model's lines.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_support.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace sluice::test {

inline std::string base64(const std::string& bytes) {
    static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < bytes.size(); i += 3) {
        uint32_t v = uint32_t(static_cast<unsigned char>(bytes[i])) << 16;
        if (i + 1 < bytes.size()) v |= uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8;
        if (i + 2 < bytes.size()) v |= uint32_t(static_cast<unsigned char>(bytes[i + 2]));
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
    }
    return out;
}

// Writes dir/tiktoken.model (ranks 0..n_ranks-1 of `bpe`) and dir/tokenizer_config.json holding
// `config` (added_tokens_decoder, bos_token, ... as Kimi's has them).
inline void write_tiktoken_folder(const std::string& dir, const TokenizerSpec& bpe, size_t n_ranks,
                                  const nlohmann::json& config) {
    std::string lines;
    for (size_t r = 0; r < n_ranks; ++r) {
        const auto bytes = symbols_to_bytes(bpe.tokens[r]);
        if (!bytes || bpe.types[r] != TokenType::Normal) throw std::runtime_error("token " + std::to_string(r) + " is not BPE");
        lines += base64(*bytes) + " " + std::to_string(r) + "\n";
    }
    write_file(dir + "/tiktoken.model", lines);
    write_file(dir + "/tokenizer_config.json", config.dump(2));
}

// Kimi's added_tokens_decoder entry.
inline nlohmann::json added_token(const std::string& content) {
    return {{"content", content}, {"lstrip", false}, {"normalized", false}, {"rstrip", false}, {"single_word", false},
            {"special", true}};
}

// The real Qwen3 vocabulary (fixtures/tokenizer/qwen3) in Kimi's layout: its 151,643 BPE tokens
// are the ranks, its 26 added tokens name the first special ids, then Kimi's [BOS] and [EOS];
// bos_token, eos_token and add_bos_token as Kimi's tokenizer_config.json has them.
inline constexpr size_t kQwenRanks = 151643;
inline constexpr int32_t kQwenTiktokenBos = 151669, kQwenTiktokenEos = 151670;

inline std::string write_qwen3_tiktoken_folder(const TempDir& tmp) {
    const TokenizerSpec qwen = read_hf_tokenizer(fixture("tokenizer/qwen3"));
    nlohmann::json added = nlohmann::json::object();
    for (size_t id = kQwenRanks; id < qwen.tokens.size(); ++id) added[std::to_string(id)] = added_token(qwen.tokens[id]);
    added[std::to_string(kQwenTiktokenBos)] = added_token("[BOS]");
    added[std::to_string(kQwenTiktokenEos)] = added_token("[EOS]");
    const nlohmann::json config = {{"added_tokens_decoder", added}, {"bos_token", "[BOS]"}, {"eos_token", "[EOS]"},
                                   {"add_bos_token", true}, {"chat_template", "{{ messages }}"}};
    write_tiktoken_folder(tmp.path().string(), qwen, kQwenRanks, config);
    return tmp.path().string();
}

}  // namespace sluice::test
