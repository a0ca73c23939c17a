// The tokenizer that belongs to a model path: a GGUF's `tokenizer.ggml.*` metadata
// (model-spec §C.3), a Hugging Face folder's tokenizer.json (or Kimi-K2's tiktoken.model), or a
// tokenizer.json file.
#pragma once
#include <memory>
#include <string>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace sluice {

// Throws naming the file and the key when the tokenizer is missing or not supported.
TokenizerSpec gguf_tokenizer_spec(const GgufFile& g);

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace sluice
