// Experts streamed from disk into a fixed set of cache slots (DESIGN.md §1, §5): slots are
// allocated once inside the memory budget; misses are read with O_DIRECT by a pool of I/O
// threads, all misses of a layer in flight together and handed to the caller in arrival
// order; prefetches for predicted experts of later layers fill unpinned slots at low priority.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "model/expert_source.h"

namespace sluice {

enum class CachePolicy {
    Lru,         // evict the least recently used expert
    LfuDecay,    // evict the expert with the lowest use count; counts halve periodically
};

struct StreamingOptions {
    int64_t slots = 0;                 // experts the cache holds (>= K)
    CachePolicy policy = CachePolicy::LfuDecay;
    int io_threads = 4;                // reads in flight at once
    bool prefetch = true;              // read predicted experts of the next layer early
};

class StreamingExperts : public ExpertSource {
public:
    StreamingExperts(const ModelDesc& desc, const StreamingOptions& options);
    ~StreamingExperts() override;

    void with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) override;
    // Prefetching pauses for a while when its predictions have been mostly wrong, so wasted
    // reads do not compete with the reads a token needs.
    bool wants_prefetch() const override { return prefetch_ && tick_ >= prefetch_paused_until_; }
    void prefetch(int64_t layer, std::span<const int32_t> experts) override;
    ExpertSourceStats stats() const override;
    void reset_stats() override;

    uint64_t slot_bytes() const { return slot_bytes_; }
    std::vector<double> layer_hit_rates() const override;

private:
    struct Slot;
    struct Read;
    struct File;

    int64_t key(int64_t layer, int32_t expert) const { return layer * n_experts_ + expert; }
    Slot* acquire(int64_t layer, int32_t expert, bool for_prefetch);   // under mu_
    Slot* pick_victim(bool for_prefetch);                             // under mu_
    void start_reads(Slot& s, int64_t layer, int32_t expert, bool urgent);   // under mu_
    void io_loop();
    void read_part(const Read& r);
    ExpertWeights weights_of(const Slot& s) const;

    const ModelDesc& desc_;
    const int64_t n_experts_;
    CachePolicy policy_;
    bool prefetch_;
    uint64_t slot_bytes_ = 0;
    uint64_t part_capacity_[3] = {};
    std::vector<std::unique_ptr<File>> files_;
    uint8_t* arena_ = nullptr;
    std::vector<Slot> slots_;
    std::unordered_map<int64_t, Slot*> index_;

    mutable std::mutex mu_;
    std::condition_variable ready_cv_, work_cv_;
    std::deque<Read> urgent_, background_;
    std::vector<std::thread> io_threads_;
    bool stop_ = false;
    uint64_t tick_ = 0;   // one per with_experts call; touched only by the calling thread
    uint64_t prefetch_paused_until_ = 0;
    uint64_t window_issued_ = 0, window_used_ = 0;

    ExpertSourceStats stats_;
    std::vector<uint64_t> layer_hits_, layer_misses_;
    int in_flight_ = 0;
    std::chrono::steady_clock::time_point busy_since_;
};

}  // namespace sluice
