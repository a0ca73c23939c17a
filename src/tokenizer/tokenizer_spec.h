// Everything that defines a tokenizer, whichever file it came from (tokenizer.json or GGUF
// metadata): the loaders fill it, Tokenizer is built from it.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sluice {

// GGUF's token types (llama.cpp's llama_token_type), which tokenizer.json's flags map onto.
enum class TokenType : int32_t {
    Normal = 1,       // a BPE token, written in the byte-level alphabet
    Unknown = 2,
    Control = 3,      // special added token (`<|im_start|>`): matched in text, a marker
    UserDefined = 4,  // non-special added token (`<think>`): matched in text, ordinary output
    Unused = 5,       // padding rows of the embedding ("[PAD151936]")
    Byte = 6,
};

struct TokenizerSpec {
    std::string source;                  // the file, for messages
    std::vector<std::string> tokens;     // by id
    std::vector<TokenType> types;        // by id
    std::vector<std::pair<std::string, std::string>> merges;  // in rank order
    std::vector<std::string> split_patterns;  // the pre-tokeniser's regexes, applied in order
    bool nfc = true;                     // NFC-normalise text outside added tokens
    int32_t eos = -1;
    int32_t bos = -1;
    // Whether a prompt starts with BOS (DeepSeek-V3's and Kimi's `add_bos_token`); Qwen's
    // tokenizers add none (model-spec §D.1).
    bool add_bos = false;
    std::vector<int32_t> stop_ids;       // further ids that end generation (generation_config)
    std::string chat_template;           // Jinja source; empty when the model has none
};

}  // namespace sluice
