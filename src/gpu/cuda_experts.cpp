#include "gpu/cuda_experts.h"

#include "util/error.h"

namespace sluice {

namespace {

// Each projection starts 16-byte aligned: the kernels read whole words of a block (a Q8_0 row of
// an odd number of blocks would otherwise leave the next expert at 2 mod 4).
uint64_t aligned(uint64_t bytes) { return (bytes + 15) / 16 * 16; }

uint64_t layer_bytes(const LayerExperts& le, int64_t n_experts) {
    uint64_t b = 0;
    for (int64_t e = 0; e < n_experts; ++e)
        for (const ExpertProjection* p : {&le.gate, &le.up, &le.down}) b += aligned(p->experts[size_t(e)].bytes);
    return b;
}

}  // namespace

uint64_t CudaExperts::bytes_needed(const ModelDesc& desc) {
    uint64_t b = 0;
    for (const LayerExperts& le : desc.experts) b += layer_bytes(le, desc.config.n_experts);
    return b;
}

CudaExperts::CudaExperts(const ModelDesc& desc) {
    const int64_t E = desc.config.n_experts;
    if (desc.config.n_dense_layers > 0)
        fail("{}: layers without experts ({} leading dense layers) are not supported on the GPU yet", desc.path,
             desc.config.n_dense_layers);
    for (const LayerExperts& le : desc.experts) {
        for (const ExpertProjection* p : {&le.gate, &le.up, &le.down})
            if (!cuda::has_kernel(p->type))
                fail("{}: {} has type {}, which has no CUDA kernel yet", desc.path, p->name, type_name(p->type));
        if (le.gate.type != le.up.type)
            fail("{}: {} and {} differ in type; the GPU MoE needs gate and up of one type", desc.path, le.gate.name,
                 le.up.name);
        Layer L;
        const uint64_t bytes = layer_bytes(le, E);
        L.bytes = cuda::DeviceBuffer<uint8_t>(size_t(bytes));
        std::vector<const void*> gate, up, down;
        uint8_t* at = L.bytes.get();
        for (int64_t e = 0; e < E; ++e) {
            ExpertWeights w;
            auto copy = [&](const ExpertProjection& p, Weight& dst, std::vector<const void*>& table) {
                const auto& s = p.experts[size_t(e)];
                const uint8_t* src = desc.files[size_t(s.file)]->range(s.offset, s.bytes, p.name);
                SLUICE_CUDA_CHECK(cudaMemcpy(at, src, s.bytes, cudaMemcpyHostToDevice));
                dst = Weight{p.type, at, p.rows, p.cols};
                table.push_back(at);
                at += aligned(s.bytes);
            };
            copy(le.gate, w.gate, gate);
            copy(le.up, w.up, up);
            copy(le.down, w.down, down);
            L.host_view.push_back(w);
        }
        L.gate = cuda::DeviceBuffer<const void*>(gate);
        L.up = cuda::DeviceBuffer<const void*>(up);
        L.down = cuda::DeviceBuffer<const void*>(down);
        L.table.gate = L.gate.get();
        L.table.up = L.up.get();
        L.table.down = L.down.get();
        L.table.gate_up_type = le.gate.type;
        L.table.down_type = le.down.type;
        L.table.hidden = le.gate.cols;
        L.table.inter = le.gate.rows;
        device_bytes_ += bytes;
        layers_.push_back(std::move(L));
    }
}

void CudaExperts::with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) {
    stats_.hits += experts.size();
    std::vector<ReadyExpert> ready;
    for (int32_t e : experts) ready.push_back({e, layers_[size_t(layer)].host_view[size_t(e)]});
    use(ready);
}

}  // namespace sluice
