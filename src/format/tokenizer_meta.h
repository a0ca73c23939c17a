// The tokenizer as GGUF metadata (`tokenizer.ggml.*`, model-spec §C.3), so that files sluice
// writes carry their tokenizer like llama.cpp's do: taken from tokenizer.json and
// tokenizer_config.json of a Hugging Face folder, or copied from a source GGUF.
#pragma once
#include <string>

#include "format/gguf_writer.h"
#include "format/model_desc.h"

namespace sluice {

// Writes the tokenizer of `desc` into w; a Hugging Face folder with neither tokenizer.json nor
// tiktoken.model writes nothing. The token list is padded to the model's vocabulary size with
// unused "[PADn]" tokens.
void write_tokenizer_metadata(GgufWriter& w, const ModelDesc& desc);

// A minimal byte-level tokenizer for synthetic models: the 256 byte symbols, one merge, and
// unused padding up to vocab_size, so that llama.cpp loads the file.
void write_synthetic_tokenizer_metadata(GgufWriter& w, int64_t vocab_size);

}  // namespace sluice
