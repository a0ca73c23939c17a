// Byte-level BPE (model-spec §D.1 step 5): a piece's bytes start as one symbol each and the
// adjacent pair with the lowest merge rank is merged until no pair has a rank.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice {

class Bpe {
public:
    // `vocab` maps byte-level token strings to ids; `merges` are (left, right) token strings in
    // rank order. Throws naming `source` when a byte has no token or a merge names a token that
    // is not in the vocabulary.
    Bpe(const std::unordered_map<std::string, int32_t>& vocab,
        const std::vector<std::pair<std::string, std::string>>& merges, const std::string& source);

    // Appends the ids of one pre-tokenised piece (raw UTF-8 bytes).
    void encode(std::string_view piece, std::vector<int32_t>& out) const;

private:
    // Merges in an open-addressing table: the pair lookup is the innermost operation, and a
    // node-based map spends most of its time on cache misses.
    struct Merge {
        uint64_t key;  // (left id << 32) | right id; kFree marks an empty slot
        int32_t rank;
        int32_t id;    // the merged token
    };
    static constexpr uint64_t kFree = ~uint64_t(0);  // ids are non-negative, so no pair has it
    static uint64_t key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }
    const Merge* find_merge(int32_t left, int32_t right) const;
    void merge_all(std::string_view piece, std::vector<int32_t>& ids) const;

    std::array<int32_t, 256> byte_id_{};
    std::vector<Merge> merges_;
    size_t mask_ = 0;

    // Text repeats its words, so pieces already encoded are kept (as Hugging Face does);
    // bounded, and cleared when full.
    static constexpr size_t kCacheEntries = 1 << 16;
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace sluice
