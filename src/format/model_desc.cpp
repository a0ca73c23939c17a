#include "format/model_desc.h"

#include <filesystem>

#include "util/error.h"

namespace sluice {

ModelDesc open_hf_model(const std::string& dir);
ModelDesc open_gguf_model(const std::string& path);

const char* arch_name(Arch a) {
    switch (a) {
        case Arch::Qwen3Moe: return "qwen3moe";
        case Arch::Qwen35Moe: return "qwen35moe";
        case Arch::Qwen3Next: return "qwen3next";
        case Arch::GptOss: return "gpt-oss";
        case Arch::Glm4Moe: return "glm4moe";
        case Arch::DeepSeek2: return "deepseek2";
    }
    return "?";
}

ModelDesc ModelDesc::open(const std::string& path) {
    namespace fs = std::filesystem;
    if (!fs::exists(path)) fail("{}: no such file or directory", path);
    if (fs::is_directory(path)) return open_hf_model(path);
    return open_gguf_model(path);
}

const TensorRef* ModelDesc::find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
}

namespace {
std::vector<int64_t> strip_trailing_ones(std::vector<int64_t> ne) {
    while (ne.size() > 1 && ne.back() == 1) ne.pop_back();
    return ne;
}
}  // namespace

const TensorRef& ModelDesc::require(const std::string& name, const std::vector<int64_t>& ne) const {
    const TensorRef* t = find(name);
    if (!t) fail("{}: missing tensor {}", path, name);
    if (strip_trailing_ones(t->ne) != strip_trailing_ones(ne))
        fail("{}: tensor {} has shape {{{}}} but the model's hyper-parameters imply {{{}}}", path, t->source_name,
             fmt::join(t->ne, ", "), fmt::join(ne, ", "));
    return *t;
}

uint64_t ModelDesc::dense_bytes() const {
    uint64_t total = 0;
    for (const auto& [name, t] : tensors) total += t.bytes;
    return total;
}

uint64_t ModelDesc::expert_bytes() const {
    uint64_t total = 0;
    for (const auto& le : experts)
        for (const auto* p : {&le.gate, &le.up, &le.down})
            for (const auto& s : p->experts) total += s.bytes;
    return total;
}

}  // namespace sluice
