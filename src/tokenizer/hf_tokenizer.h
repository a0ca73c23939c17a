// Reads a Hugging Face tokenizer: tokenizer.json (vocabulary, merges, added tokens, normaliser,
// pre-tokeniser) and, beside it, tokenizer_config.json (BOS, EOS, add_bos_token, chat template;
// or chat_template.jinja) and generation_config.json (the ids that end generation); or, in a
// folder with no tokenizer.json, Kimi-K2's tiktoken.model (tiktoken_tokenizer.h).
#pragma once
#include <string>

#include "tokenizer/tokenizer_spec.h"

namespace sluice {

// `path` is a model folder or a tokenizer.json file. Throws naming the file and the field
// when something is missing or not supported (only byte-level BPE is).
TokenizerSpec read_hf_tokenizer(const std::string& path);

}  // namespace sluice
