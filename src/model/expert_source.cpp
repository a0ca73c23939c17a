#include "model/expert_source.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/repack.h"
#include "util/error.h"
#include "util/file_reader.h"
#include "util/thread_pool.h"

namespace sluice {

ExpertWeights MappedExperts::view(const LayerExperts& le, const uint8_t* gate, const uint8_t* up, const uint8_t* down) {
    return {Weight{le.gate.type, gate, le.gate.rows, le.gate.cols}, Weight{le.up.type, up, le.up.rows, le.up.cols},
            Weight{le.down.type, down, le.down.rows, le.down.cols}};
}

namespace {
// Whether repacking copies this projection of every expert.
bool repacked(const ExpertProjection& p) { return kernels::can_repack(Weight{p.type, nullptr, p.rows, p.cols}); }
}  // namespace

uint64_t MappedExperts::repacked_bytes(const ModelDesc& desc) {
    uint64_t bytes = 0;
    for (const LayerExperts& le : desc.experts)
        for (const ExpertProjection* p : {&le.gate, &le.up, &le.down})
            if (repacked(*p))
                for (const ExpertProjection::Slice& s : p->experts) bytes += s.bytes;
    return bytes;
}

MappedExperts::MappedExperts(const ModelDesc& desc, bool repack) : desc_(desc) {
    if (!repack) return;
    arena_bytes_ = repacked_bytes(desc);
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
// The bytes are read with pread() into the arena and interleaved in place, not copied from the
// mapping: pages faulted in through the mapping stay resident until reclaim finds them (and the
// kernel drops no page a process maps), so the file was held beside its copy, twice the experts
// (issue 16: 17 GB copied from an 18.55 GB file on a 23.5 GiB machine thrashed at 0.92 tok/s).
// Read so, and released from the mapping and the page cache as they are copied, the copied bytes
// take memory once; pread() also needs no scratch buffer, as the arena is where they go.
void MappedExperts::copy_all() {
    const int64_t E = desc_.config.n_experts;
    std::vector<std::unique_ptr<FileReader>> readers(desc_.files.size());
    for (size_t f = 0; f < desc_.files.size(); ++f)
        if (!desc_.files[f]->is_in_memory()) readers[f] = std::make_unique<FileReader>(desc_.files[f]->path());
    copies_.resize(size_t(desc_.config.n_layers * E));
    uint8_t* at = arena_;
    for (int64_t l = desc_.config.n_dense_layers; l < desc_.config.n_layers; ++l) {
        const LayerExperts& le = desc_.experts[size_t(l)];
        size_t per_expert = 0;
        for (const ExpertProjection* p : {&le.gate, &le.up, &le.down})
            if (repacked(*p)) per_expert += p->experts[0].bytes;
        ThreadPool::global().parallel_for(E, [&](int, int64_t begin, int64_t end) {
            for (int64_t e = begin; e < end; ++e) {
                ExpertWeights w = mapped(l, int32_t(e));
                uint8_t* dst = at + size_t(e) * per_expert;
                for (const auto& [weight, p] : {std::pair{&w.gate, &le.gate}, std::pair{&w.up, &le.up}, std::pair{&w.down, &le.down}}) {
                    if (!repacked(*p)) continue;
                    const ExpertProjection::Slice& s = p->experts[size_t(e)];
                    if (readers[size_t(s.file)])
                        readers[size_t(s.file)]->read(s.offset, s.bytes, dst, fmt::format("{} (expert {})", p->name, e));
                    else   // no file to read: the bytes are in memory already
                        std::memcpy(dst, weight->data, s.bytes);
                    desc_.files[size_t(s.file)]->release(s.offset, s.bytes);
                    *weight = kernels::repack_in_place(Weight{weight->type, dst, weight->rows, weight->cols});
                    dst += s.bytes;
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
