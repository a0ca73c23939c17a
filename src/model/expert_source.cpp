#include "model/expert_source.h"

#include <vector>

namespace sluice {

ExpertWeights MappedExperts::view(const LayerExperts& le, const uint8_t* gate, const uint8_t* up,
                                  const uint8_t* down) {
    return {Weight{le.gate.type, gate, le.gate.rows, le.gate.cols}, Weight{le.up.type, up, le.up.rows, le.up.cols},
            Weight{le.down.type, down, le.down.rows, le.down.cols}};
}

void MappedExperts::with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) {
    const LayerExperts& le = desc_.experts[size_t(layer)];
    auto at = [&](const ExpertProjection& p, int32_t e) {
        const auto& s = p.experts[size_t(e)];
        return desc_.files[size_t(s.file)]->range(s.offset, s.bytes, p.name);
    };
    stats_.hits += experts.size();
    std::vector<ReadyExpert> ready;
    for (int32_t e : experts) ready.push_back({e, view(le, at(le.gate, e), at(le.up, e), at(le.down, e))});
    use(ready);
}

}  // namespace sluice
