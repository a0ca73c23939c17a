// The tokenizer as GGUF metadata (`tokenizer.ggml.*`, model-spec §C.3), so that files sluice
// writes carry their tokenizer like llama.cpp's do: taken from tokenizer.json and
// tokenizer_config.json of a Hugging Face folder, or copied from a source GGUF.
#pragma once
#include <string>

#include "format/gguf_writer.h"
#include "format/model_desc.h"

namespace sluice {

// Writes the tokenizer of `desc` into w; a Hugging Face folder without tokenizer.json writes
// nothing. The token list is padded to the model's vocabulary size with unused "[PADn]" tokens.
void write_tokenizer_metadata(GgufWriter& w, const ModelDesc& desc);

}  // namespace sluice
