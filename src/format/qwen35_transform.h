// The tensor rewrites llama.cpp's converter applies to Qwen3.5-MoE / Qwen3-Next checkpoints
// (model-spec §B.10). A GGUF written from a Hugging Face folder must carry them for llama.cpp
// (and for our own GGUF reader, which expects them: model_desc.h `Conventions`).
#pragma once
#include <string>

#include "format/convert.h"
#include "format/model_desc.h"

namespace sluice {

// Whether the tensor with this canonical (GGUF) name is rewritten for architecture c.arch.
bool qwen35_needs_transform(const ModelConfig& c, const std::string& name);

// Rewrites one dense tensor of a Hugging Face checkpoint, named and shaped as ModelDesc gives it,
// into what llama.cpp's converter writes: zero-centred norms (all `*norm.weight` but ssm_norm)
// become 1 + w; ssm_a (A_log) becomes −exp(A_log); ssm_conv1d loses its middle axis of 1; and
// for qwen35moe every v-head-indexed axis is reordered from grouped (h = g·r + j) to tiled
// (h' = j·nk + g) order: the v rows of attn_qkv and ssm_conv1d, the rows of attn_gate,
// ssm_beta, ssm_alpha, the entries of ssm_a and ssm_dt.bias, and the columns of ssm_out.
// Other tensors are left unchanged. Throws if the shape is not what the config implies.
void qwen35_gguf_transform(const ModelConfig& c, DenseTensor& t);

}  // namespace sluice
