// Experts streamed from disk through the budgeted cache of store/ (DESIGN.md §1, §5): the
// adapter between the model's ExpertSource interface and store::ExpertCache. It describes
// where every expert is (expert_layout), hands the MoE layer each expert in arrival order, and
// decides when router-predicted prefetches are worth issuing.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "model/expert_source.h"
#include "store/expert_cache.h"

namespace sluice {

// Byte ranges of every routed expert's gate, up and down in the model's files.
ExpertLayout expert_layout(const ModelDesc& desc);

struct StreamingOptions {
    int64_t slots = 0;                 // experts the cache holds (>= K)
    int64_t experts_per_token = 0;     // K in use (0: the model's)
    CachePolicy policy = CachePolicy::LfuDecay;
    bool prefetch = true;              // read predicted experts of the next layer early
    ReaderOptions reader;              // io_uring or pread, queue depth, O_DIRECT
};

class StreamingExperts : public ExpertSource {
public:
    // Throws sluice::Error if `slots` cannot hold one layer's K experts or a file cannot be opened.
    StreamingExperts(const ModelDesc& desc, const StreamingOptions& options);

    void with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) override;
    // Prefetching pauses for a while when its predictions have been mostly wrong, so wasted
    // reads do not compete with the reads a token needs.
    bool wants_prefetch() const override { return prefetch_ && tick_ >= prefetch_paused_until_; }
    void prefetch(int64_t layer, std::span<const int32_t> experts) override;
    ExpertSourceStats stats() const override;
    void reset_stats() override;
    std::vector<double> layer_hit_rates() const override;

    uint64_t slot_bytes() const { return cache_->slot_bytes(); }
    IoBackend backend() const { return cache_->backend(); }

private:
    void judge_prefetch_accuracy();

    const ModelDesc& desc_;
    std::unique_ptr<ExpertCache> cache_;
    bool prefetch_;
    int64_t experts_per_token_;   // K
    // A hint held until the next request: issued after that request has pinned its own
    // experts, so a prefetch can never evict what the current layer is about to use.
    std::optional<std::pair<int, std::vector<int>>> pending_prefetch_;
    uint64_t tick_ = 0;   // one per with_experts call
    uint64_t prefetch_paused_until_ = 0;
    uint64_t window_issued_ = 0, window_used_ = 0;   // store counters at the window's start
    int wrong_windows_in_a_row_ = 0;                 // the pause doubles with each
};

}  // namespace sluice
