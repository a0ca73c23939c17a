#pragma once
#include "model/model.h"

namespace sluice {
std::unique_ptr<Model> load_deepseek2(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options);
}
