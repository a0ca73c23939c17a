// Writes a ModelDesc (from a Hugging Face folder or another GGUF) as a GGUF file in llama.cpp's
// conventions: architecture name, metadata keys and tensor names (model-spec §B.10, §C.2).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "format/gguf_writer.h"
#include "format/model_desc.h"

namespace sluice {

struct ConvertOptions {
    GgmlType type = GgmlType::F16;             // 2-D dense tensors
    std::optional<GgmlType> expert_type;        // routed experts (default: `type` and `q4_k_m`)
    // llama.cpp's Q4_K_M mix instead of `type` / `expert_type` alone (see choose_tensor_type).
    bool q4_k_m = false;
    bool expert_q4_k_m = false;
    // Extra metadata (the tokenizer), written after the architecture's keys.
    std::function<void(GgufWriter&)> extra_metadata;
};

// The tensors and values a conversion writes, before any quantisation: lets an architecture
// rewrite a whole tensor (llama.cpp's transforms of Qwen3.5/Qwen3-Next weights).
struct DenseTensor {
    std::string name;
    std::vector<int64_t> ne;
    std::vector<float> data;
};

void convert_to_gguf(const ModelDesc& desc, const std::string& out_path, const ConvertOptions& options,
                     const GgufWriter::Progress& progress = {});

// general.architecture and the architecture's hyper-parameter keys.
void write_arch_metadata(GgufWriter& w, const ModelConfig& c);
// general.file_type and, for quantised files, general.quantization_version.
void write_type_metadata(GgufWriter& w, GgmlType main_type, bool quantized);

// The type a tensor gets, as llama-quantize chooses it:
// - 1-D tensors, the routers (ffn_gate_inp) and ssm_conv1d stay F32;
// - with q4_k_m (llama.cpp's Q4_K_M; n_layers for the layer rule): Q4_K, except output.weight
//   Q6_K, and attn_v / attn_qkv and every ffn_down (experts and shared expert too) Q6_K in the
//   layers i with i < n/8, i ≥ 7n/8 or (i − n/8) % 3 == 2 (a third of the middle ones);
// - rows that are not a whole number of blocks fall back as llama.cpp does: Q4_K → Q5_0,
//   Q5_K → Q5_1, Q6_K → Q8_0, Q2_K/Q3_K → Q4_0, IQ4_XS → IQ4_NL, and F16 when even those
//   32-value blocks do not fit.
GgmlType choose_tensor_type(const std::string& name, const std::vector<int64_t>& ne, GgmlType wanted,
                            bool q4_k_m = false, int64_t n_layers = 0);

}  // namespace sluice
