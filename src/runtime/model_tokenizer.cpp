#include "runtime/model_tokenizer.h"

#include <filesystem>

#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "util/error.h"

namespace sluice {

namespace {

TokenizerSpec read_gguf_metadata(const GgufFile& g) {
    TokenizerSpec spec;
    spec.source = g.path();
    const GgufValue* model = g.find("tokenizer.ggml.model");
    if (!model) fail("the file has no tokenizer (no tokenizer.ggml.model)");
    const std::string& kind = model->as_string("tokenizer.ggml.model");
    if (kind != "gpt2") fail("tokenizer.ggml.model \"{}\" is not supported (byte-level BPE, \"gpt2\", only)", kind);

    const GgufValue* pre = g.find("tokenizer.ggml.pre");
    if (!pre) fail("missing metadata key tokenizer.ggml.pre (the pre-tokeniser)");
    const std::string& pre_name = pre->as_string("tokenizer.ggml.pre");
    const PreTokenizerPreset* preset = pretokenizer_preset(pre_name);
    if (!preset) fail("tokenizer.ggml.pre: unknown pre-tokeniser \"{}\" (sluice knows {})", pre_name, known_pretokenizers());
    spec.split_patterns = preset->patterns;
    // GGUF does not record the normaliser: the preset says what the family's Hugging Face
    // tokenizer does (Qwen's apply NFC, which llama.cpp skips), and sluice matches Hugging Face.
    spec.nfc = preset->nfc;

    for (const GgufValue& v : g.get("tokenizer.ggml.tokens").as_array("tokenizer.ggml.tokens").items)
        spec.tokens.push_back(v.as_string("tokenizer.ggml.tokens"));
    if (const GgufValue* types = g.find("tokenizer.ggml.token_type")) {
        for (const GgufValue& v : types->as_array("tokenizer.ggml.token_type").items) {
            const int64_t t = v.as_int("tokenizer.ggml.token_type");
            if (t < 1 || t > 6) fail("tokenizer.ggml.token_type: unknown token type {}", t);
            spec.types.push_back(TokenType(t));
        }
        if (spec.types.size() != spec.tokens.size())
            fail("tokenizer.ggml.token_type has {} entries for {} tokens", spec.types.size(), spec.tokens.size());
    } else {
        spec.types.assign(spec.tokens.size(), TokenType::Normal);
    }
    size_t rank = 0;
    for (const GgufValue& v : g.get("tokenizer.ggml.merges").as_array("tokenizer.ggml.merges").items) {
        const std::string& m = v.as_string("tokenizer.ggml.merges");
        const size_t sp = m.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == m.size())
            fail("tokenizer.ggml.merges[{}] \"{}\" is not two tokens separated by a space", rank, m);
        spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
        ++rank;
    }
    if (const GgufValue* v = g.find("tokenizer.ggml.eos_token_id")) spec.eos = int32_t(v->as_int("tokenizer.ggml.eos_token_id"));
    if (const GgufValue* v = g.find("tokenizer.ggml.bos_token_id")) spec.bos = int32_t(v->as_int("tokenizer.ggml.bos_token_id"));
    // llama.cpp's default for byte-level BPE when the key is absent: no BOS.
    if (const GgufValue* v = g.find("tokenizer.ggml.add_bos_token")) spec.add_bos = v->as_bool("tokenizer.ggml.add_bos_token");
    if (const GgufValue* v = g.find("tokenizer.chat_template")) spec.chat_template = v->as_string("tokenizer.chat_template");
    return spec;
}

}  // namespace

TokenizerSpec gguf_tokenizer_spec(const GgufFile& g) {
    try {
        return read_gguf_metadata(g);
    } catch (const Error& e) {
        fail("{}: {}", g.path(), e.what());
    }
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
    namespace fs = std::filesystem;
    if (!fs::exists(path)) fail("{}: no such file or directory", path);
    if (fs::is_directory(path) || fs::path(path).extension() == ".json")
        return std::make_unique<Tokenizer>(read_hf_tokenizer(path));
    return std::make_unique<Tokenizer>(gguf_tokenizer_spec(GgufFile(path)));
}

}  // namespace sluice
