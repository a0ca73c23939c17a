// Where the MoE layer gets routed experts' weights from. The model never reads expert bytes
// itself: a source hands them over, either straight from the mapped file (MappedExperts) or
// through the budgeted streaming cache (store/).
#pragma once
#include <cstdint>
#include <functional>
#include <span>

#include "format/model_desc.h"
#include "kernels/matmul.h"

namespace sluice {

struct ExpertWeights {
    Weight gate, up, down;
};

class ExpertSource {
public:
    using Use = std::function<void(int32_t expert, const ExpertWeights& w)>;
    virtual ~ExpertSource() = default;

    // Makes `experts` (distinct ids) of `layer` available and calls use() once for each, in the
    // order they become ready. Throws sluice::Error if one cannot be read.
    virtual void with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) = 0;

    // A hint that these experts of `layer` will probably be needed soon.
    virtual void prefetch(int64_t layer, std::span<const int32_t> experts) {}
};

// Experts used in place from the memory-mapped model files (no budget).
class MappedExperts : public ExpertSource {
public:
    explicit MappedExperts(const ModelDesc& desc) : desc_(desc) {}
    void with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) override;

    // The weights of one expert as views into `base` (the bytes of its gate, up and down slices
    // laid out as in the file, or as read into a cache slot).
    static ExpertWeights view(const LayerExperts& le, const uint8_t* gate, const uint8_t* up, const uint8_t* down);

private:
    const ModelDesc& desc_;
};

}  // namespace sluice
