// Which cached expert to evict. Experts are keys 0..n_keys (layer * n_experts + expert); the
// cache reports every use and insertion and asks for a victim among the slots it may evict.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sluice {

enum class CachePolicy {
    Lru,        // least recently used
    LfuDecay,   // fewest uses, counts halved periodically so old popularity fades; ties by recency
};

std::string policy_name(CachePolicy p);

class ReplacementPolicy {
public:
    virtual ~ReplacementPolicy() = default;
    virtual void on_use(int64_t key) = 0;      // an expert the computation asked for
    virtual void on_insert(int64_t key) = 0;   // an expert just placed in a slot (miss or prefetch)
    // Index into `candidates` (keys of evictable slots, not empty) of the one to evict.
    virtual size_t victim(std::span<const int64_t> candidates) const = 0;
    // Whether `key`, just used, should displace the cached `victim` during a scan (a batch
    // touching more experts than the cache holds). LRU always says yes; LFU only for at least one
    // use more (counts are halved periodically, so a smaller lead is an artefact of where the
    // halving fell in the scan), so a prompt streamed layer after layer keeps what is cached.
    virtual bool admits(int64_t key, int64_t victim) const = 0;

    static std::unique_ptr<ReplacementPolicy> make(CachePolicy p, int64_t n_keys);
};

}  // namespace sluice
