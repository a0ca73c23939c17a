#pragma once
#include "model/model.h"

namespace sluice {
// Qwen3.5-MoE and Qwen3-Next: one loader for the hybrid Gated DeltaNet / gated attention family.
std::unique_ptr<Model> load_qwen35moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options);
}
