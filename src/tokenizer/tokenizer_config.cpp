#include "tokenizer/tokenizer_config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"
#include "util/json_file.h"

namespace sluice {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// tokenizer_config.json writes a token as a string or as {"content": ...}.
std::string token_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return {};
}

int32_t id_of(const TokenizerSpec& spec, const std::string& text) {
    if (text.empty()) return -1;
    for (size_t i = 0; i < spec.tokens.size(); ++i)
        if (spec.types[i] != TokenType::Normal && spec.tokens[i] == text) return int32_t(i);
    for (size_t i = 0; i < spec.tokens.size(); ++i)
        if (spec.tokens[i] == text) return int32_t(i);
    return -1;
}

void read_tokenizer_config_json(TokenizerSpec& spec, const fs::path& cfg) {
    json c = read_json_file(cfg);
    if (c.contains("eos_token")) spec.eos = id_of(spec, token_text(c["eos_token"]));
    if (c.contains("bos_token")) spec.bos = id_of(spec, token_text(c["bos_token"]));
    if (auto it = c.find("add_bos_token"); it != c.end() && !it->is_null()) {
        if (!it->is_boolean()) fail("{}: add_bos_token must be true or false, not {}", cfg.string(), it->dump());
        spec.add_bos = it->get<bool>();
        if (spec.add_bos && spec.bos < 0)
            fail("{}: add_bos_token is true but bos_token names no token of the vocabulary", cfg.string());
    }
    if (c.contains("chat_template")) {
        const json& ct = c["chat_template"];
        if (ct.is_string()) spec.chat_template = ct.get<std::string>();
        // Some repositories list named templates; "default" is the chat one.
        else if (ct.is_array())
            for (const json& e : ct)
                if (e.value("name", "") == "default" && e.contains("template")) spec.chat_template = e["template"].get<std::string>();
    }
}

void read_generation_config(TokenizerSpec& spec, const fs::path& gen) {
    json g = read_json_file(gen);
    auto it = g.find("eos_token_id");
    if (it != g.end() && it->is_number_integer()) spec.stop_ids.push_back(it->get<int32_t>());
    if (it != g.end() && it->is_array())
        for (const json& v : *it)
            if (v.is_number_integer()) spec.stop_ids.push_back(v.get<int32_t>());
}

}  // namespace

void read_tokenizer_config(TokenizerSpec& spec, const std::string& dir_name) {
    const fs::path dir(dir_name);
    try {
        if (const fs::path cfg = dir / "tokenizer_config.json"; fs::exists(cfg)) read_tokenizer_config_json(spec, cfg);
        // Newer repositories keep the template in its own file.
        if (const fs::path jinja = dir / "chat_template.jinja"; spec.chat_template.empty() && fs::exists(jinja)) {
            std::ifstream f(jinja);
            std::stringstream ss;
            ss << f.rdbuf();
            spec.chat_template = ss.str();
        }
        if (const fs::path gen = dir / "generation_config.json"; fs::exists(gen)) read_generation_config(spec, gen);
    } catch (const json::exception& e) {
        fail("{}: tokenizer_config.json or generation_config.json has a field of the wrong type: {}", dir.string(), e.what());
    }
}

}  // namespace sluice
