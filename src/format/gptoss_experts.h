// gpt-oss's routed experts as Hugging Face checkpoints store them, rewritten into llama.cpp's
// per-expert layout (one [I, H] gate, [I, H] up and [H, I] down matrix per expert) in memory:
// - bf16 `mlp.experts.gate_up_proj [E, H, 2I]` (transposed, gate and up interleaved by column)
//   and `down_proj [E, I, H]` (transposed): transposed back, gate = even columns, up = odd;
// - MXFP4 `gate_up_proj_blocks [E, 2I, H/32, 16]` + `_scales [E, 2I, H/32]` (gate = even rows,
//   up = odd) and `down_proj_blocks` / `_scales`, as released: repacked into ggml's MXFP4
//   blocks (quant/mxfp4_layout.h).
// Neither layout is a contiguous per-expert matrix of a type the kernels read, so these experts
// are used from memory and cannot be streamed from the file.
#pragma once
#include <string>

#include "format/model_desc.h"
#include "format/safetensors.h"

namespace sluice {

// True for the expert tensors (weights, blocks, scales) this file rewrites; `rest` is the name
// inside a decoder layer, e.g. "mlp.experts.down_proj_blocks".
bool is_gptoss_expert_tensor(const std::string& rest);

// Rewrites every layer's experts found in `set` (layer → its tensors, by `rest` name) into one
// in-memory file appended to desc.files, and points desc.experts at it.
void load_gptoss_experts(const SafetensorsSet& set,
                         const std::vector<std::map<std::string, const SafetensorsTensor*>>& layer_tensors,
                         ModelDesc& desc);

}  // namespace sluice
