#include "util/stealing_ranges.h"

#include "util/error.h"

namespace sluice {

void StealingRanges::reset(int64_t n, int parts) {
    if (parts < 1 || n < 0 || n > int64_t(UINT32_MAX))
        fail("StealingRanges: {} units over {} threads (want 0 .. 2^32 - 1 units, at least one thread)", n, parts);
    if (parts > capacity_) {
        ranges_.reset(new Range[size_t(parts)]);
        capacity_ = parts;
    }
    parts_ = parts;
    for (int p = 0; p < parts; ++p)
        ranges_[size_t(p)].bounds.store(pack(uint32_t(n * p / parts), uint32_t(n * (p + 1) / parts)),
                                        std::memory_order_relaxed);
}

int64_t StealingRanges::next(int part) {
    std::atomic<uint64_t>& own = ranges_[size_t(part)].bounds;
    for (;;) {
        uint64_t b = own.load(std::memory_order_relaxed);
        while (begin_of(b) < end_of(b))
            if (own.compare_exchange_weak(b, pack(begin_of(b) + 1, end_of(b)), std::memory_order_relaxed))
                return begin_of(b);
        if (!steal_into(part)) return -1;
    }
}

// Moves the back half of the fullest other range into `part`'s (empty) range; false when every
// range is empty. Only this thread fills its own range, and only while it is empty, so a plain
// store after the successful exchange cannot lose units.
bool StealingRanges::steal_into(int part) {
    for (;;) {
        int victim = -1;
        uint64_t vb = 0;
        uint32_t most = 0;
        for (int p = 0; p < parts_; ++p) {
            if (p == part) continue;
            const uint64_t b = ranges_[size_t(p)].bounds.load(std::memory_order_relaxed);
            const uint32_t left = end_of(b) > begin_of(b) ? end_of(b) - begin_of(b) : 0;
            if (left > most) most = left, victim = p, vb = b;
        }
        if (victim < 0) return false;
        const uint32_t mid = begin_of(vb) + (end_of(vb) - begin_of(vb)) / 2;
        if (ranges_[size_t(victim)].bounds.compare_exchange_weak(vb, pack(begin_of(vb), mid), std::memory_order_relaxed)) {
            ranges_[size_t(part)].bounds.store(pack(mid, end_of(vb)), std::memory_order_relaxed);
            return true;
        }
    }
}

}  // namespace sluice
