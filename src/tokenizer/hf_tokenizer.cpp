#include "tokenizer/hf_tokenizer.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/tokenizer_config.h"
#include "util/limits.h"
#include "util/error.h"
#include "util/json_file.h"

namespace sluice {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const json& member(const json& obj, const char* key, json::value_t type, const std::string& where, const fs::path& file) {
    auto it = obj.find(key);
    if (it == obj.end() || it->type() != type)
        fail("{}: missing or malformed field \"{}{}\"", file.string(), where.empty() ? "" : where + ".", key);
    return *it;
}

// Accepts the normaliser Qwen's tokenizers use (NFC) or none (null, or DeepSeek-V3's empty
// Sequence).
bool read_normalizer(const json& t, const fs::path& file) {
    auto it = t.find("normalizer");
    if (it == t.end()) fail("{}: missing field \"normalizer\"", file.string());
    if (it->is_null()) return false;
    std::string type = it->value("type", "");
    if (type == "NFC") return true;
    if (type == "Sequence" && it->contains("normalizers") && (*it)["normalizers"].is_array() && (*it)["normalizers"].empty())
        return false;
    fail("{}: normalizer {} is not supported (NFC or none)", file.string(), it->dump());
}

// The split regexes of a byte-level pre-tokeniser: one or more `Split`s (Isolated), each
// applied to the pieces of the one before, then a `ByteLevel` that does no splitting of its
// own, as Qwen's, GLM's, gpt-oss's (one Split) and DeepSeek-V3's (three) tokenizer.json have it.
std::vector<std::string> read_split_patterns(const json& t, const fs::path& file) {
    auto it = t.find("pre_tokenizer");
    if (it == t.end() || !it->is_object()) fail("{}: missing object \"pre_tokenizer\"", file.string());
    std::vector<json> steps;
    if (it->value("type", "") == "Sequence") {
        const json& list = member(*it, "pretokenizers", json::value_t::array, "pre_tokenizer", file);
        steps.assign(list.begin(), list.end());
    } else {
        steps.push_back(*it);
    }
    std::vector<std::string> patterns;
    bool byte_level = false;
    for (const json& s : steps) {
        std::string type = s.value("type", "");
        if (type == "Split" && !byte_level && s.value("behavior", "") == "Isolated" && !s.value("invert", false) &&
            s.contains("pattern") && s["pattern"].contains("Regex") && s["pattern"]["Regex"].is_string()) {
            patterns.push_back(s["pattern"]["Regex"].get<std::string>());
        } else if (type == "ByteLevel" && !byte_level && !s.value("use_regex", true) && !s.value("add_prefix_space", false)) {
            byte_level = true;
        } else {
            fail("{}: pre_tokenizer step {} is not supported (Split regexes, Isolated, then ByteLevel without "
                 "its own regex)",
                 file.string(), s.dump());
        }
    }
    if (patterns.empty() || !byte_level)
        fail("{}: pre_tokenizer has no Split regex followed by ByteLevel", file.string());
    return patterns;
}

// A token id of tokenizer.json, checked against the vocabulary limit before it sizes a table.
size_t token_id(const json& id, const fs::path& file, const std::string& what) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= limits::kMaxVocab)
        fail("{}: {} is not a token id (0 to {})", file.string(), what, limits::kMaxVocab - 1);
    return size_t(id.get<int64_t>());
}

TokenizerSpec read_spec(const json& t, const fs::path& file) {
    TokenizerSpec spec;
    spec.source = file.string();

    const json& model = member(t, "model", json::value_t::object, "", file);
    const std::string type = model.value("type", "");
    if (type != "BPE") fail("{}: model.type \"{}\" is not supported (byte-level BPE only)", file.string(), type);
    if (model.value("byte_fallback", false)) fail("{}: model.byte_fallback is not supported", file.string());
    const json& vocab = member(model, "vocab", json::value_t::object, "model", file);
    const json& merges = member(model, "merges", json::value_t::array, "model", file);

    size_t n = 0;
    for (const auto& [text, id] : vocab.items()) n = std::max(n, token_id(id, file, "model.vocab[\"" + text + "\"]") + 1);
    const json* added = t.contains("added_tokens") ? &t.at("added_tokens") : nullptr;
    if (!added || !added->is_array()) fail("{}: missing array \"added_tokens\"", file.string());
    for (const json& a : *added) {
        if (!a.contains("id") || !a["id"].is_number_integer() || a["id"].get<int64_t>() < 0 || !a.contains("content") ||
            !a["content"].is_string())
            fail("{}: an entry of \"added_tokens\" lacks \"id\" or \"content\": {}", file.string(), a.dump());
        n = std::max(n, token_id(a["id"], file, "added_tokens id " + a["id"].dump()) + 1);
    }
    spec.tokens.resize(n);
    spec.types.assign(n, TokenType::Unused);
    for (const auto& [text, id] : vocab.items()) {
        spec.tokens[size_t(id.get<int64_t>())] = text;
        spec.types[size_t(id.get<int64_t>())] = TokenType::Normal;
    }
    // Added tokens are matched in the raw text; Qwen's are all normalized=false and have no
    // lstrip/rstrip/single_word behaviour.
    for (const json& a : *added) {
        const size_t id = size_t(a["id"].get<int64_t>());
        spec.tokens[id] = a["content"].get<std::string>();
        spec.types[id] = a.value("special", false) ? TokenType::Control : TokenType::UserDefined;
    }

    spec.merges.reserve(merges.size());
    for (const json& m : merges) {
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            const size_t sp = s.find(' ');
            if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
                fail("{}: merge \"{}\" is not two tokens separated by a space", file.string(), s);
            spec.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            fail("{}: a merge is neither \"a b\" nor [\"a\", \"b\"]: {}", file.string(), m.dump());
        }
    }
    spec.nfc = read_normalizer(t, file);
    spec.split_patterns = read_split_patterns(t, file);
    return spec;
}

}  // namespace

TokenizerSpec read_hf_tokenizer(const std::string& path) {
    if (has_tiktoken_tokenizer(path)) return read_tiktoken_tokenizer(path);
    const fs::path file = fs::is_directory(path) ? fs::path(path) / "tokenizer.json" : fs::path(path);
    if (!fs::exists(file)) fail("{}: no such file", file.string());
    const json t = read_json_file(file);
    // Fields are type-checked where they are read; a wrong type deeper in (a pre-tokeniser
    // step that is not an object) still ends as one line naming the file.
    TokenizerSpec spec;
    try {
        spec = read_spec(t, file);
    } catch (const json::exception& e) {
        fail("{}: a field has the wrong type: {}", file.string(), e.what());
    }
    read_tokenizer_config(spec, file.parent_path().string());
    return spec;
}

}  // namespace sluice
