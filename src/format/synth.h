// Synthetic models: random weights with the real geometry and tensor names of a released
// model, written as GGUF. Both sluice and llama.cpp load them, so benchmarks compare engines on
// identical routing without downloading hundreds of gigabytes.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "format/gguf_writer.h"
#include "format/model_desc.h"
#include "format/type_recipe.h"

namespace sluice {

// "qwen3-30b-a3b", "qwen3.5-35b-a3b", "qwen3-235b-a22b", "qwen3.5-397b-a17b", "gpt-oss-120b",
// "glm-4.6", "deepseek-v3", "kimi-k2", or a path to a Hugging Face config.json.
ModelConfig synth_geometry(const std::string& name);

struct SynthOptions {
    TypeSpec type;                            // 2-D weights: one type or a mix (type_recipe.h)
    std::optional<GgmlType> expert_type;      // the routed experts' own type (default: by `type`), e.g. MXFP4
    int64_t layers = 0;                       // 0: all of the geometry's layers
    uint64_t seed = 1;
    std::function<void(GgufWriter&)> extra_metadata;   // e.g. a tokenizer
};

void write_synthetic_gguf(const ModelConfig& geometry, const std::string& out_path, const SynthOptions& options,
                          const GgufWriter::Progress& progress = {});

}  // namespace sluice
