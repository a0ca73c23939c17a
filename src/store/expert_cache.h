// The budgeted expert cache (DESIGN.md §1, §3, §5): fixed-size slots allocated once inside a
// byte budget, each holding one expert's gate, up and down bytes as read from disk. The MoE
// layer makes one call per layer and batch:
//
//     cache.request(layer, experts);            // misses all go to disk at once; returns at once
//     while (auto e = cache.next_ready()) {     // hits first, then misses in arrival order
//         compute(e->expert, e->gate, e->up, e->down);
//         cache.release(e->layer, e->expert);   // unpin: the slot may now be evicted
//     }
//     cache.prefetch(layer + 1, predicted);     // low priority, only into unpinned slots
//
// Experts handed out by next_ready() stay pinned (never evicted or overwritten) until released.
// If a request has more distinct misses than there are free or evictable slots, the extra ones
// are read as earlier experts are released. All calls come from one thread.
//
// A prompt's ubatch touches nearly every expert of every layer: streamed layer after layer it is
// a scan larger than the cache, which evicting by recency or equal counts would wash out (each
// expert evicted just before the next ubatch asks for it again). A request marked `scan` lets a
// miss displace a cached expert only where the policy admits it (ReplacementPolicy::admits);
// the others are read into *transient* slots, the first to be reused, up to transient_limit()
// of them (one layer's experts: reads may run that far ahead of the compute). The cache keeps
// a stable share of the experts, which the next ubatch hits.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/expert_layout.h"
#include "store/reader.h"
#include "store/replacement_policy.h"

namespace sluice {

struct CacheOptions {
    uint64_t budget_bytes = 0;
    int min_experts = 1;   // experts one request must be able to hold (K); a smaller budget throws
    // LFU with decay keeps more hits than LRU on skewed routing (tests/store/policy_test.cpp,
    // bench/store_policy.cpp), so it is the default.
    CachePolicy policy = CachePolicy::LfuDecay;
    ReaderOptions reader;
};

struct ExpertView {
    int layer = 0, expert = 0;
    const uint8_t* gate = nullptr;   // the bytes of each projection exactly as in the file
    const uint8_t* up = nullptr;
    const uint8_t* down = nullptr;
    bool hit = false;                // in memory (or already being prefetched) when requested
};

struct LayerStats {
    uint64_t hits = 0, misses = 0;
    uint64_t bytes_read = 0;   // including prefetch and alignment padding
    double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
};

struct StoreStats {
    uint64_t hits = 0, misses = 0;
    uint64_t bytes_read = 0;
    double read_seconds = 0;   // wall time with reads in flight
    uint64_t prefetch_issued = 0, prefetch_used = 0;
    std::vector<LayerStats> layers;

    double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
    double gbps() const { return read_seconds > 0 ? double(bytes_read) / read_seconds / 1e9 : 0.0; }
    // Prefetched experts that a later request used, over prefetched experts.
    double prefetch_accuracy() const {
        return prefetch_issued ? double(prefetch_used) / double(prefetch_issued) : 0.0;
    }
};

class ExpertCache {
public:
    // Bytes of one slot: each projection's largest aligned read span (Reader::span_bytes).
    static uint64_t slot_bytes_for(const ExpertLayout& layout);

    // Throws sluice::Error if the budget holds fewer than min_experts slots (saying how much
    // is needed), if the layout is incomplete, or if a file cannot be opened.
    ExpertCache(const ExpertLayout& layout, const CacheOptions& options);
    ~ExpertCache();
    ExpertCache(const ExpertCache&) = delete;
    ExpertCache& operator=(const ExpertCache&) = delete;

    int64_t slots() const { return int64_t(slots_.size()); }
    uint64_t slot_bytes() const { return slot_bytes_; }
    IoBackend backend() const { return reader_->backend(); }

    // Starts a request for these experts of `layer` (duplicates are served once). Experts of
    // the previous request that next_ready() has not handed out yet are dropped and unpinned,
    // and so are predictions of prefetch() not yet read. `scan`: see above.
    void request(int layer, std::span<const int> experts, bool scan = false);
    // The next expert of the current request, blocking until one is read; nullopt when all
    // have been handed out. Throws sluice::Error (naming file and offset) if a read failed,
    // or if experts wait for slots while every slot is pinned.
    std::optional<ExpertView> next_ready();
    // Experts of the current request that next_ready() can hand out without waiting.
    size_t ready_count() const { return ready_.size(); }
    // Unpins an expert handed out by next_ready(); during a scan, the slot it frees goes to
    // the request's waiting misses, then to waiting predictions, so reads keep the disk busy.
    void release(int layer, int expert);
    // Reads predicted experts of a later layer at low priority into free or evictable slots;
    // never evicts pinned or loading experts. Outside a scan it stops at the first expert that
    // finds no slot; during one, the rest wait for the slots the current request releases (the
    // next layer is read while this one computes) until the next request.
    void prefetch(int layer, std::span<const int> experts);
    // Slots a scan may turn transient.
    int64_t transient_limit() const { return transient_limit_; }

    StoreStats stats() const;
    void reset_stats();

private:
    enum class State { Free, Loading, Ready, Retired };   // Retired: a stuck read may still write it
    struct Slot {
        int64_t key = -1;
        State state = State::Free;
        int pins = 0;
        int parts_left = 0;
        bool wanted = false;       // the current request waits for it
        bool prefetched = false;   // read by prefetch and not used since
        bool hit = false;          // was in memory or loading when the current request came
        bool abandoned = false;    // a part's read was given up at the deadline
        bool transient = false;    // read during a scan without displacing a cached expert
        std::string error;
        uint8_t* base = nullptr;
        const uint8_t* part[3] = {};
    };

    int64_t key_of(int layer, int expert) const;
    void touch_arena(size_t bytes);
    int take_slot(int64_t key, bool urgent);
    void set_transient(int s, bool transient);
    void load(int s, int64_t key, bool urgent);
    void start_prefetches();
    void on_done(const ReadDone& d);
    void drain();
    void start_waiting();
    void abandon_request();
    ExpertView view(int s) const;
    LayerStats& layer_stats(int64_t key) { return stats_.layers[size_t(key / layout_.n_experts())]; }

    ExpertLayout layout_;
    uint64_t slot_bytes_ = 0;
    uint64_t part_offset_[3] = {};
    struct FreeDeleter {
        void operator()(uint8_t* p) const;
    };
    std::unique_ptr<uint8_t, FreeDeleter> arena_;
    std::unique_ptr<Reader> reader_;   // after arena_: destroyed first, so no read lands in freed memory
    std::unique_ptr<ReplacementPolicy> policy_;

    std::vector<Slot> slots_;
    std::vector<int> where_;   // key → slot, -1 if not cached
    std::vector<int> free_;
    int64_t transient_ = 0, transient_limit_ = 0;

    // The current request.
    std::deque<int> ready_;          // slots ready to hand out
    std::vector<int64_t> waiting_;   // keys with no slot yet
    int pending_ = 0;                // wanted slots still loading
    std::string failed_;             // first read error of the current request
    bool scan_ = false;
    std::deque<int64_t> prefetch_waiting_;   // predicted keys with no slot yet (scan only)

    StoreStats stats_;
};

}  // namespace sluice
