#include "tokenizer/bpe.h"

#include <queue>

#include "tokenizer/byte_level.h"
#include "util/error.h"

namespace sluice {

namespace {
// A 64-bit mixer (MurmurHash3's finaliser) so that neighbouring ids spread over the table.
size_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return size_t(k);
}
}  // namespace

const Bpe::Merge* Bpe::find_merge(int32_t left, int32_t right) const {
    const uint64_t k = key(left, right);
    for (size_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
        const Merge& m = merges_[i];
        if (m.key == k) return &m;
        if (m.key == kFree) return nullptr;
    }
}

Bpe::Bpe(const std::unordered_map<std::string, int32_t>& vocab,
         const std::vector<std::pair<std::string, std::string>>& merges, const std::string& source) {
    for (int b = 0; b < 256; ++b) {
        auto it = vocab.find(byte_symbol(static_cast<unsigned char>(b)));
        if (it == vocab.end()) fail("{}: the vocabulary has no token for byte 0x{:02X}", source, b);
        byte_id_[size_t(b)] = it->second;
    }
    size_t slots = 16;
    while (slots < 2 * merges.size()) slots *= 2;  // at most half full: short probe runs
    merges_.assign(slots, Merge{kFree, 0, 0});
    mask_ = slots - 1;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [l, r] = merges[rank];
        auto li = vocab.find(l), ri = vocab.find(r), mi = vocab.find(l + r);
        if (li == vocab.end() || ri == vocab.end() || mi == vocab.end())
            fail("{}: merge {} (\"{} {}\") names a token that is not in the vocabulary", source, rank, l, r);
        // A pair listed twice keeps its first (lowest) rank.
        const uint64_t k = key(li->second, ri->second);
        size_t i = mix(k) & mask_;
        while (merges_[i].key != kFree && merges_[i].key != k) i = (i + 1) & mask_;
        if (merges_[i].key == kFree) merges_[i] = Merge{k, int32_t(rank), mi->second};
    }
}

void Bpe::merge_all(std::string_view piece, std::vector<int32_t>& ids) const {
    struct Symbol {
        int32_t id;
        int32_t prev, next;  // neighbours in the list; -1 at the ends
        bool alive;
    };
    struct Candidate {
        int32_t rank, left;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    const auto n = int32_t(piece.size());
    std::vector<Symbol> sym(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i)
        sym[size_t(i)] = {byte_id_[static_cast<unsigned char>(piece[size_t(i)])], i - 1, i + 1 < n ? i + 1 : -1, true};

    // Lowest rank first; among equal ranks the leftmost pair, as Hugging Face merges.
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto push = [&](int32_t left) {
        const int32_t right = sym[size_t(left)].next;
        if (right < 0) return;
        if (const Merge* m = find_merge(sym[size_t(left)].id, sym[size_t(right)].id)) heap.push({m->rank, left});
    };
    for (int32_t i = 0; i + 1 < n; ++i) push(i);

    while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        Symbol& l = sym[size_t(c.left)];
        if (!l.alive || l.next < 0) continue;
        Symbol& r = sym[size_t(l.next)];
        // Stale entry: one side has merged since it was pushed (ids only grow, so a changed
        // pair never shows the old rank again).
        const Merge* m = find_merge(l.id, r.id);
        if (!m || m->rank != c.rank) continue;
        l.id = m->id;
        r.alive = false;
        l.next = r.next;
        if (r.next >= 0) sym[size_t(r.next)].prev = c.left;
        if (l.prev >= 0) push(l.prev);
        push(c.left);
    }
    for (int32_t i = 0; i >= 0 && i < n; i = sym[size_t(i)].next) ids.push_back(sym[size_t(i)].id);
}

void Bpe::encode(std::string_view piece, std::vector<int32_t>& out) const {
    if (piece.size() == 1) {
        out.push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
        return;
    }
    {
        std::lock_guard lock(cache_mutex_);
        auto it = cache_.find(std::string(piece));
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int32_t> ids;
    merge_all(piece, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheEntries) cache_.clear();
    cache_.emplace(piece, std::move(ids));
}

}  // namespace sluice
