#include "format/tokenizer_meta.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tokenizer/tiktoken_tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"

namespace sluice {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// GGUF token types (llama.cpp's llama_token_type).
constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

// Token text of a tokenizer_config.json entry, which is a string or {"content": ...}.
std::string token_content(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return {};
}

void copy_from_gguf(GgufWriter& w, const GgufFile& g) {
    for (const auto& [key, value] : g.metadata())
        if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
}

void write_from_hf(GgufWriter& w, const fs::path& dir, int64_t vocab_size) {
    const fs::path tj = dir / "tokenizer.json";
    json t = read_json_file(tj);
    if (!t.contains("model") || !t["model"].is_object()) fail("{}: missing object \"model\"", tj.string());
    const json& model = t["model"];
    if (model.value("type", std::string()) != "BPE")
        fail("{}: model.type \"{}\" is not supported (byte-level BPE only)", tj.string(), model.value("type", std::string()));
    if (!model.contains("vocab") || !model["vocab"].is_object()) fail("{}: missing object \"model.vocab\"", tj.string());
    if (!model.contains("merges") || !model["merges"].is_array()) fail("{}: missing array \"model.merges\"", tj.string());

    std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
    std::vector<int32_t> types(static_cast<size_t>(vocab_size), kUnused);
    std::vector<bool> set(static_cast<size_t>(vocab_size), false);
    auto put = [&](int64_t id, const std::string& text, int32_t type) {
        if (id < 0 || id >= vocab_size)
            fail("{}: token \"{}\" has id {} outside the model's vocabulary of {}", tj.string(), text, id, vocab_size);
        tokens[size_t(id)] = text;
        types[size_t(id)] = type;
        set[size_t(id)] = true;
    };
    for (auto& [text, id] : model["vocab"].items()) put(id.get<int64_t>(), text, kNormal);
    if (t.contains("added_tokens") && t["added_tokens"].is_array())
        for (const auto& a : t["added_tokens"])
            put(a.at("id").get<int64_t>(), a.at("content").get<std::string>(), a.value("special", false) ? kControl : kUserDefined);
    for (int64_t i = 0; i < vocab_size; ++i)
        if (!set[size_t(i)]) tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";

    std::vector<std::string> merges;
    for (const auto& m : model["merges"]) {
        if (m.is_string()) merges.push_back(m.get<std::string>());
        else if (m.is_array() && m.size() == 2) merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        else fail("{}: a merge is neither \"a b\" nor [a, b]", tj.string());
    }

    // Qwen3.5's pre-tokeniser adds combining marks (\p{M}) to the letter class.
    const std::string pre = t.contains("pre_tokenizer") && t["pre_tokenizer"].dump().find("\\\\p{M}") != std::string::npos
                                ? "qwen35"
                                : "qwen2";
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", pre);
    w.set_strings("tokenizer.ggml.tokens", tokens);
    w.set_i32s("tokenizer.ggml.token_type", types);
    w.set_strings("tokenizer.ggml.merges", merges);

    const fs::path cfg = dir / "tokenizer_config.json";
    if (!fs::exists(cfg)) return;
    json c = read_json_file(cfg);
    auto id_of = [&](const char* key) -> int64_t {
        if (!c.contains(key)) return -1;
        std::string content = token_content(c[key]);
        for (int64_t i = 0; i < vocab_size; ++i)
            if (!content.empty() && tokens[size_t(i)] == content) return i;
        return -1;
    };
    for (auto [key, gguf_key] : {std::pair{"bos_token", "tokenizer.ggml.bos_token_id"},
                                 std::pair{"eos_token", "tokenizer.ggml.eos_token_id"},
                                 std::pair{"pad_token", "tokenizer.ggml.padding_token_id"}})
        if (int64_t id = id_of(key); id >= 0) w.set_u32(gguf_key, uint32_t(id));
    w.set_bool("tokenizer.ggml.add_bos_token", c.value("add_bos_token", false));
    if (c.contains("chat_template") && c["chat_template"].is_string())
        w.set_string("tokenizer.chat_template", c["chat_template"].get<std::string>());
}

// Kimi-K2's tiktoken.model folder, written as llama.cpp's converter writes it (DeepseekV2Model.
// set_vocab, "kimi-k2"): the tokens up to the model's vocabulary size, every special id a control
// token, the merges derived from the ranks, and BOS / EOS from config.json (SpecialVocab finds
// them there when there is no tokenizer.json), else tokenizer_config.json's.
void write_from_tiktoken(GgufWriter& w, const ModelDesc& desc) {
    const TokenizerSpec spec = read_tiktoken_tokenizer(desc.path);
    const int64_t vocab_size = desc.config.vocab_size;
    std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
    std::vector<int32_t> types(static_cast<size_t>(vocab_size), kUnused);
    for (int64_t i = 0; i < vocab_size; ++i) {
        if (size_t(i) < spec.tokens.size()) {
            tokens[size_t(i)] = spec.tokens[size_t(i)];
            types[size_t(i)] = int32_t(spec.types[size_t(i)]);
        } else {
            tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";
        }
    }
    // llama.cpp drops what lies past the vocabulary; a named special token there would be lost.
    for (size_t i = size_t(vocab_size); i < spec.tokens.size(); ++i)
        if (spec.tokens[i] != "<|reserved_token_" + std::to_string(i) + "|>")
            fail("{}: token \"{}\" (id {}) is outside the model's vocabulary of {}", spec.source, spec.tokens[i], i, vocab_size);
    std::vector<std::string> merges;
    merges.reserve(spec.merges.size());
    for (const auto& [a, b] : spec.merges) merges.push_back(a + " " + b);
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "kimi-k2");
    w.set_strings("tokenizer.ggml.tokens", tokens);
    w.set_i32s("tokenizer.ggml.token_type", types);
    w.set_strings("tokenizer.ggml.merges", merges);
    const int64_t bos = desc.config.bos_token >= 0 ? desc.config.bos_token : spec.bos;
    const int64_t eos = desc.config.eos_token >= 0 ? desc.config.eos_token : spec.eos;
    if (bos >= 0 && bos < vocab_size) w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(bos));
    if (eos >= 0 && eos < vocab_size) w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(eos));
    w.set_bool("tokenizer.ggml.add_bos_token", spec.add_bos);
    if (!spec.chat_template.empty()) w.set_string("tokenizer.chat_template", spec.chat_template);
}

// GPT-2's byte → printable code point table (model-spec §D.1 step 4), as UTF-8.
std::string byte_symbol(int b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    int cp = b;
    if (!printable) {
        int n = 0;  // rank of b among the non-printable bytes
        for (int x = 0; x < b; ++x)
            if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) ++n;
        cp = 0x100 + n;
    }
    std::string s;
    if (cp < 0x80) s += char(cp);
    else {
        s += char(0xC0 | (cp >> 6));
        s += char(0x80 | (cp & 0x3F));
    }
    return s;
}

}  // namespace

void write_synthetic_tokenizer_metadata(GgufWriter& w, int64_t vocab_size) {
    if (vocab_size < 258) fail("a synthetic tokenizer needs a vocabulary of at least 258 tokens, not {}", vocab_size);
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (int b = 0; b < 256; ++b) {
        tokens.push_back(byte_symbol(b));
        types.push_back(kNormal);
    }
    const std::string space = byte_symbol(' ');
    tokens.push_back(space + space);
    types.push_back(kNormal);
    tokens.push_back("<|endoftext|>");
    types.push_back(kControl);
    for (int64_t i = int64_t(tokens.size()); i < vocab_size; ++i) {
        tokens.push_back("[PAD" + std::to_string(i) + "]");
        types.push_back(kUnused);
    }
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "qwen2");
    w.set_strings("tokenizer.ggml.tokens", tokens);
    w.set_i32s("tokenizer.ggml.token_type", types);
    w.set_strings("tokenizer.ggml.merges", {space + " " + space});
    w.set_u32("tokenizer.ggml.eos_token_id", 257);
    w.set_u32("tokenizer.ggml.padding_token_id", 257);
    w.set_bool("tokenizer.ggml.add_bos_token", false);
}

void write_tokenizer_metadata(GgufWriter& w, const ModelDesc& desc) {
    if (desc.gguf) {
        copy_from_gguf(w, *desc.gguf);
        return;
    }
    if (has_tiktoken_tokenizer(desc.path)) {
        write_from_tiktoken(w, desc);
        return;
    }
    if (!fs::exists(fs::path(desc.path) / "tokenizer.json")) return;
    // write_from_hf checks the structure it relies on; a value of the wrong type elsewhere (an
    // id that is a string) still ends as one line naming the folder.
    try {
        write_from_hf(w, desc.path, desc.config.vocab_size);
    } catch (const json::exception& e) {
        fail("{}: tokenizer.json or tokenizer_config.json has a field of the wrong type: {}", desc.path, e.what());
    }
}

}  // namespace sluice
