#include "model/model.h"

#include "model/gptoss.h"
#include "model/deepseek2.h"
#include "model/glm4moe.h"
#include "model/qwen35moe.h"
#include "model/qwen3moe.h"
#include "util/error.h"

namespace sluice {

std::unique_ptr<Model> load_model(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options) {
    switch (desc.config.arch) {
        case Arch::Qwen3Moe: return load_qwen3moe(desc, experts, options);
        case Arch::Qwen35Moe:
        case Arch::Qwen3Next: return load_qwen35moe(desc, experts, options);
        case Arch::GptOss: return load_gptoss(desc, experts, options);
        case Arch::Glm4Moe: return load_glm4moe(desc, experts, options);
        case Arch::DeepSeek2: return load_deepseek2(desc, experts, options);
        default: fail("{}: architecture {} is recognised but not implemented yet", desc.path, arch_name(desc.config.arch));
    }
}

}  // namespace sluice
