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
    std::optional<GgmlType> expert_type;        // routed experts (default: `type`)
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

// The type a tensor gets: 1-D tensors and the router stay F32 (as llama.cpp keeps them); rows
// that are not a whole number of blocks fall back to F16.
GgmlType choose_tensor_type(const std::string& name, const std::vector<int64_t>& ne, GgmlType wanted);

}  // namespace sluice
