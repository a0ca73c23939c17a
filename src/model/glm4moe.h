#pragma once
#include "model/model.h"

namespace sluice {
std::unique_ptr<Model> load_glm4moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options);
}
