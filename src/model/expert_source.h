// Where the MoE layer gets routed experts' weights from. The model never reads expert bytes
// itself: a source hands them over, either straight from the mapped file (MappedExperts) or
// through the budgeted streaming cache (store/).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "format/model_desc.h"
#include "kernels/matmul.h"

namespace sluice {

struct ExpertWeights {
    Weight gate, up, down;
};

struct ReadyExpert {
    int32_t expert;
    ExpertWeights weights;
};

// Counters for `--stats` and `sluice bench`.
struct ExpertSourceStats {
    uint64_t hits = 0, misses = 0;           // expert uses served from memory / read from disk
    uint64_t bytes_read = 0;
    double read_seconds = 0;                 // wall time with reads in flight
    uint64_t prefetch_issued = 0, prefetch_used = 0;
    double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
};

class ExpertSource {
public:
    using Use = std::function<void(std::span<const ReadyExpert> ready)>;
    virtual ~ExpertSource() = default;

    // Makes `experts` (distinct ids) of `layer` available and calls use() with them in the order
    // they become ready, each once, in batches of those ready together (all of them in one
    // batch when nothing must be read). Throws sluice::Error if one cannot be read.
    virtual void with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) = 0;

    // A hint that these experts of `layer` will probably be needed soon; only sources that
    // read from disk say they want hints (predicting them costs a router product per layer).
    virtual bool wants_prefetch() const { return false; }
    virtual void prefetch(int64_t layer, std::span<const int32_t> experts) {}

    virtual ExpertSourceStats stats() const = 0;
    virtual void reset_stats() = 0;
    // Hit rate of each layer since the last reset; empty where every use is a hit.
    virtual std::vector<double> layer_hit_rates() const { return {}; }
};

// Experts from the memory-mapped model files (no budget): used in place, or with `repack` (for
// a model that fits in memory) their Q4_K and Q6_K projections read at load, on all threads, into
// memory of their own in the interleaved layout decode is fastest on (kernels/repack.h), as
// llama.cpp does with its repacked types, the file's pages of those bytes dropped behind them. The
// copy reads the whole model once: 15-28 s for the 17 GB Qwen3-30B-A3B synth on the Zen 4 VM of
// bench/RESULTS.md (llama.cpp loads it in 44 s).
class MappedExperts : public ExpertSource {
public:
    MappedExperts(const ModelDesc& desc, bool repack);
    ~MappedExperts() override;
    MappedExperts(const MappedExperts&) = delete;
    MappedExperts& operator=(const MappedExperts&) = delete;
    void with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) override;
    ExpertSourceStats stats() const override { return stats_; }
    void reset_stats() override { stats_ = {}; }

    // The weights of one expert as views of its gate, up and down bytes (laid out as in the
    // file, or as read into a cache slot).
    static ExpertWeights view(const LayerExperts& le, const uint8_t* gate, const uint8_t* up, const uint8_t* down);
    // Bytes of the projections `repack` copies (the anonymous memory it takes).
    static uint64_t repacked_bytes(const ModelDesc& desc);

private:
    ExpertWeights mapped(int64_t layer, int32_t expert) const;
    void copy_all();

    const ModelDesc& desc_;
    // With repacking: one anonymous mapping holding every expert's interleaved projections, and
    // each expert's weights ([layer · n_experts + expert]: the copies, or the file where a
    // projection cannot be interleaved).
    uint8_t* arena_ = nullptr;
    size_t arena_bytes_ = 0;
    std::vector<ExpertWeights> copies_;
    ExpertSourceStats stats_;    // every use is a hit: the whole file is mapped
};

}  // namespace sluice
