#include "tokenizer/tiktoken_tokenizer.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>

#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_config.h"
#include "util/base64.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/limits.h"

namespace sluice {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string to_symbols(std::string_view bytes) {
    std::string s;
    for (char b : bytes) s += byte_symbol(static_cast<unsigned char>(b));
    return s;
}

// Each token's bytes, by rank.
std::vector<std::string> read_ranks(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail("{}: cannot open", file.string());
    std::vector<std::string> by_rank;
    std::vector<int64_t> line_of_rank;   // 0: not seen
    std::unordered_map<std::string, int64_t> line_of_bytes;
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;   // tiktoken skips empty lines
        const size_t sp = line.find(' ');
        if (sp == std::string::npos || sp == 0 || line.find(' ', sp + 1) != std::string::npos)
            fail("{}:{}: expected the token's base64, one space and its rank, not \"{}\"", file.string(), n, line);
        const std::string_view b64(line.data(), sp), rank_text(line.data() + sp + 1, line.size() - sp - 1);
        int64_t rank = -1;
        const auto [end, ec] = std::from_chars(rank_text.data(), rank_text.data() + rank_text.size(), rank);
        if (ec != std::errc() || end != rank_text.data() + rank_text.size() || rank < 0 || rank >= limits::kMaxVocab)
            fail("{}:{}: rank \"{}\" is not a number from 0 to {}", file.string(), n, rank_text, limits::kMaxVocab - 1);
        std::optional<std::string> bytes = decode_base64(b64);
        if (!bytes) fail("{}:{}: \"{}\" is not base64", file.string(), n, b64);
        if (bytes->empty()) fail("{}:{}: the token has no bytes", file.string(), n);
        if (size_t(rank) >= by_rank.size()) {
            by_rank.resize(size_t(rank) + 1);
            line_of_rank.resize(size_t(rank) + 1, 0);
        }
        if (line_of_rank[size_t(rank)] != 0)
            fail("{}:{}: rank {} is also the rank of line {}", file.string(), n, rank, line_of_rank[size_t(rank)]);
        if (auto [it, fresh] = line_of_bytes.emplace(*bytes, n); !fresh)
            fail("{}:{}: the token's bytes are also those of line {}", file.string(), n, it->second);
        line_of_rank[size_t(rank)] = n;
        by_rank[size_t(rank)] = std::move(*bytes);
    }
    if (by_rank.empty()) fail("{}: no tokens", file.string());
    for (size_t r = 0; r < by_rank.size(); ++r)
        if (line_of_rank[r] == 0)
            fail("{}: rank {} is missing (the ranks go up to {}; each from 0 must be given once)", file.string(), r,
                 by_rank.size() - 1);
    return by_rank;
}

// The merges implied by the ranks, in rank order of the token each one makes. A token whose
// BPE (with the ranks below its own) does not end in two parts has no merge: byte-level BPE
// never makes it, in tiktoken's algorithm and in llama.cpp's, which skips it the same way.
std::vector<std::pair<std::string, std::string>> derive_merges(const std::vector<std::string>& by_rank) {
    std::unordered_map<std::string_view, int32_t> rank_of;
    rank_of.reserve(by_rank.size());
    for (size_t r = 0; r < by_rank.size(); ++r) rank_of.emplace(by_rank[r], int32_t(r));
    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<std::string_view> parts;
    std::vector<int32_t> pair_rank;   // of parts i and i + 1; -1: no token
    // Parts are adjacent views into the token, so a pair joins into one view.
    auto rank_of_pair = [&](size_t i) {
        auto it = rank_of.find(std::string_view(parts[i].data(), parts[i].size() + parts[i + 1].size()));
        return it == rank_of.end() ? -1 : it->second;
    };
    for (size_t r = 0; r < by_rank.size(); ++r) {
        const std::string_view token = by_rank[r];
        if (token.size() == 1) continue;
        parts.clear();
        for (size_t i = 0; i < token.size(); ++i) parts.push_back(token.substr(i, 1));
        pair_rank.clear();
        for (size_t i = 0; i + 1 < parts.size(); ++i) pair_rank.push_back(rank_of_pair(i));
        // Only the pairs beside a merge change, so each step rescans ranks, not strings.
        for (;;) {
            size_t at = pair_rank.size();
            for (size_t i = 0; i < pair_rank.size(); ++i)
                if (pair_rank[i] >= 0 && (at == pair_rank.size() || pair_rank[i] < pair_rank[at])) at = i;
            if (at == pair_rank.size() || size_t(pair_rank[at]) >= r) break;
            parts[at] = std::string_view(parts[at].data(), parts[at].size() + parts[at + 1].size());
            parts.erase(parts.begin() + std::ptrdiff_t(at) + 1);
            pair_rank.erase(pair_rank.begin() + std::ptrdiff_t(at));
            if (at > 0) pair_rank[at - 1] = rank_of_pair(at - 1);
            if (at < pair_rank.size()) pair_rank[at] = rank_of_pair(at);
        }
        if (parts.size() == 2) merges.emplace_back(to_symbols(parts[0]), to_symbols(parts[1]));
    }
    return merges;
}

// added_tokens_decoder: {"163584": {"content": "[BOS]", ...}, ...}, each id one of the special
// ids after the ranks.
void name_special_tokens(TokenizerSpec& spec, size_t n_ranks, const fs::path& cfg) {
    if (!fs::exists(cfg)) return;
    const json c = read_json_file(cfg.string());
    auto it = c.find("added_tokens_decoder");
    if (it == c.end()) return;
    if (!it->is_object()) fail("{}: added_tokens_decoder is not an object", cfg.string());
    for (const auto& [key, entry] : it->items()) {
        int64_t id = -1;
        const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
        if (ec != std::errc() || end != key.data() + key.size() || id < int64_t(n_ranks) ||
            id >= int64_t(n_ranks) + kTiktokenSpecialIds)
            fail("{}: added_tokens_decoder id \"{}\" is not one of the {} special ids after tiktoken.model's {} ranks "
                 "({} to {})",
                 cfg.string(), key, kTiktokenSpecialIds, n_ranks, n_ranks, n_ranks + kTiktokenSpecialIds - 1);
        if (!entry.is_object() || !entry.contains("content") || !entry["content"].is_string() ||
            entry["content"].get<std::string>().empty())
            fail("{}: added_tokens_decoder[\"{}\"] has no \"content\" string", cfg.string(), key);
        spec.tokens[size_t(id)] = entry["content"].get<std::string>();
    }
}

}  // namespace

bool has_tiktoken_tokenizer(const std::string& dir) {
    return fs::is_directory(dir) && fs::exists(fs::path(dir) / "tiktoken.model") && !fs::exists(fs::path(dir) / "tokenizer.json");
}

TokenizerSpec read_tiktoken_tokenizer(const std::string& dir) {
    const fs::path file = fs::path(dir) / "tiktoken.model";
    TokenizerSpec spec;
    spec.source = file.string();
    const std::vector<std::string> by_rank = read_ranks(file);
    spec.merges = derive_merges(by_rank);
    const size_t n = by_rank.size();
    spec.tokens.reserve(n + kTiktokenSpecialIds);
    for (const std::string& bytes : by_rank) spec.tokens.push_back(to_symbols(bytes));
    spec.types.assign(n, TokenType::Normal);
    // Every special id is a control token, named or not, as llama.cpp's converter writes them.
    for (size_t id = n; id < n + kTiktokenSpecialIds; ++id) spec.tokens.push_back("<|reserved_token_" + std::to_string(id) + "|>");
    spec.types.resize(n + kTiktokenSpecialIds, TokenType::Control);
    try {
        name_special_tokens(spec, n, fs::path(dir) / "tokenizer_config.json");
    } catch (const json::exception& e) {
        fail("{}: a field has the wrong type: {}", (fs::path(dir) / "tokenizer_config.json").string(), e.what());
    }
    const PreTokenizerPreset* kimi = pretokenizer_preset("kimi-k2");
    spec.split_patterns = kimi->patterns;
    spec.nfc = kimi->nfc;
    read_tokenizer_config(spec, dir);
    return spec;
}

}  // namespace sluice
