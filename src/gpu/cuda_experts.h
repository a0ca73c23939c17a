// Every routed expert in VRAM (issue 13, part 1: the model fits on the GPU). The experts of a
// layer are copied at load into one device allocation, and a device table of their gate, up and
// down pointers lets the decode MoE pick its experts on the GPU without a host round trip.
#pragma once
#include <cstdint>
#include <vector>

#include "cuda/device_buffer.h"
#include "cuda/kernels.h"
#include "format/model_desc.h"
#include "model/expert_source.h"

namespace sluice {

class CudaExperts : public ExpertSource {
public:
    explicit CudaExperts(const ModelDesc& desc);

    // Hands out device-memory weights (for the backend's batched MoE).
    void with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) override;
    ExpertSourceStats stats() const override { return stats_; }
    // Uses the decode MoE made on the device, which does not go through with_experts.
    void count_uses(int64_t n) { stats_.hits += uint64_t(n); }
    void reset_stats() override { stats_ = {}; }

    // The device table of one layer's experts (cuda::moe_decode).
    const cuda::MoeExpertTable& table(int64_t layer) const { return layers_[size_t(layer)].table; }
    // VRAM the experts take.
    uint64_t device_bytes() const { return device_bytes_; }
    // VRAM that copying every expert of `desc` will take.
    static uint64_t bytes_needed(const ModelDesc& desc);

private:
    struct Layer {
        cuda::DeviceBuffer<uint8_t> bytes;              // every expert's gate, up and down
        cuda::DeviceBuffer<const void*> gate, up, down; // [E] pointers into `bytes`
        std::vector<ExpertWeights> host_view;           // the same pointers as Weights, by expert
        cuda::MoeExpertTable table;
    };
    std::vector<Layer> layers_;
    uint64_t device_bytes_ = 0;
    ExpertSourceStats stats_;   // every use is a hit
};

}  // namespace sluice
