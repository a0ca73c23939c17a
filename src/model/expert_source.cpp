#include "model/expert_source.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "kernels/repack.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace sluice {

ExpertWeights MappedExperts::view(const LayerExperts& le, const uint8_t* gate, const uint8_t* up, const uint8_t* down) {
    return {Weight{le.gate.type, gate, le.gate.rows, le.gate.cols}, Weight{le.up.type, up, le.up.rows, le.up.cols},
            Weight{le.down.type, down, le.down.rows, le.down.cols}};
}

namespace {
// Bytes of one expert's projections that repacking copies (the same for every expert of a layer).
size_t copied_bytes(const ExpertWeights& w) {
    size_t bytes = 0;
    for (const Weight* p : {&w.gate, &w.up, &w.down})
        if (kernels::can_repack(*p)) bytes += p->bytes();
    return bytes;
}
}  // namespace

MappedExperts::MappedExperts(const ModelDesc& desc, bool repack) : desc_(desc) {
    if (!repack) return;
    for (int64_t l = desc.config.n_dense_layers; l < desc.config.n_layers; ++l)
        arena_bytes_ += copied_bytes(mapped(l, 0)) * size_t(desc.config.n_experts);
    if (arena_bytes_ == 0) return;   // no projection can be interleaved
    void* p = ::mmap(nullptr, arena_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("cannot allocate {} bytes for the interleaved experts: {}", arena_bytes_, std::strerror(errno));
    arena_ = static_cast<uint8_t*>(p);
    copy_all();
}

MappedExperts::~MappedExperts() {
    if (arena_) ::munmap(arena_, arena_bytes_);
}

// Every expert into the arena, layer after layer, the experts of a layer spread over the threads.
void MappedExperts::copy_all() {
    const int64_t E = desc_.config.n_experts;
    copies_.resize(size_t(desc_.config.n_layers * E));
    uint8_t* at = arena_;
    for (int64_t l = desc_.config.n_dense_layers; l < desc_.config.n_layers; ++l) {
        const size_t per_expert = copied_bytes(mapped(l, 0));
        ThreadPool::global().parallel_for(E, [&](int, int64_t begin, int64_t end) {
            for (int64_t e = begin; e < end; ++e) {
                ExpertWeights w = mapped(l, int32_t(e));
                uint8_t* dst = at + size_t(e) * per_expert;
                for (Weight* p : {&w.gate, &w.up, &w.down}) {
                    if (!kernels::can_repack(*p)) continue;
                    *p = kernels::repack(*p, dst);
                    dst += p->bytes();
                }
                copies_[size_t(l * E + e)] = w;
            }
        });
        at += per_expert * size_t(E);
    }
}

ExpertWeights MappedExperts::mapped(int64_t layer, int32_t e) const {
    const LayerExperts& le = desc_.experts[size_t(layer)];
    auto at = [&](const ExpertProjection& p) {
        const auto& s = p.experts[size_t(e)];
        return desc_.files[size_t(s.file)]->range(s.offset, s.bytes, p.name);
    };
    return view(le, at(le.gate), at(le.up), at(le.down));
}

void MappedExperts::with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) {
    stats_.hits += experts.size();
    std::vector<ReadyExpert> ready;
    for (int32_t e : experts)
        ready.push_back({e, copies_.empty() ? mapped(layer, e) : copies_[size_t(layer * desc_.config.n_experts + e)]});
    use(ready);
}

}  // namespace sluice
