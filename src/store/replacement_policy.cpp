#include "store/replacement_policy.h"

#include <algorithm>

namespace sluice {

std::string policy_name(CachePolicy p) { return p == CachePolicy::Lru ? "lru" : "lfu-decay"; }

namespace {

class Lru : public ReplacementPolicy {
public:
    explicit Lru(int64_t n_keys) : last_(size_t(n_keys), 0) {}
    void on_use(int64_t key) override { last_[size_t(key)] = ++tick_; }
    void on_insert(int64_t key) override { last_[size_t(key)] = ++tick_; }
    size_t victim(std::span<const int64_t> candidates) const override {
        size_t best = 0;
        for (size_t i = 1; i < candidates.size(); ++i)
            if (last_[size_t(candidates[i])] < last_[size_t(candidates[best])]) best = i;
        return best;
    }
    bool admits(int64_t, int64_t) const override { return true; }

private:
    std::vector<uint64_t> last_;
    uint64_t tick_ = 0;
};

// Counts are kept for every expert, cached or not, so an expert evicted and read again keeps
// its history. Halving all counts every 2 · n_keys uses (each expert used about twice per
// period on average) lets the cache follow routing that drifts across a long generation.
class LfuDecay : public ReplacementPolicy {
public:
    explicit LfuDecay(int64_t n_keys)
        : count_(size_t(n_keys), 0), last_(size_t(n_keys), 0), period_(uint64_t(std::max<int64_t>(64, 2 * n_keys))) {}
    void on_use(int64_t key) override {
        count_[size_t(key)] += 1;
        last_[size_t(key)] = ++tick_;
        if (++uses_ % period_ == 0)
            for (float& c : count_) c *= 0.5f;
    }
    void on_insert(int64_t key) override { last_[size_t(key)] = ++tick_; }
    size_t victim(std::span<const int64_t> candidates) const override {
        auto rank = [&](int64_t k) { return std::pair(count_[size_t(k)], last_[size_t(k)]); };
        size_t best = 0;
        for (size_t i = 1; i < candidates.size(); ++i)
            if (rank(candidates[i]) < rank(candidates[best])) best = i;
        return best;
    }
    bool admits(int64_t key, int64_t victim) const override { return count_[size_t(key)] >= count_[size_t(victim)] + 1.0f; }

private:
    std::vector<float> count_;
    std::vector<uint64_t> last_;
    uint64_t period_;
    uint64_t tick_ = 0, uses_ = 0;
};

}  // namespace

std::unique_ptr<ReplacementPolicy> ReplacementPolicy::make(CachePolicy p, int64_t n_keys) {
    if (p == CachePolicy::Lru) return std::make_unique<Lru>(n_keys);
    return std::make_unique<LfuDecay>(n_keys);
}

}  // namespace sluice
