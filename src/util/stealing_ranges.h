// Hands out the units [0, n) to `parts` threads: each thread takes its own contiguous range from
// the front, one unit at a time, and a thread whose range is empty takes the back half of the
// fullest other range. A thread therefore walks one long run of memory (the hardware prefetchers
// need long runs: an expert matrix streamed 1.3× faster on two threads as halves than as
// alternating quarter-share chunks, bench/RESULTS.md), yet a thread the OS delays leaves its
// rows to the others.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

namespace sluice {

class StealingRanges {
public:
    StealingRanges() = default;
    StealingRanges(int64_t n, int parts) { reset(n, parts); }

    // A new split of [0, n) over `parts` threads; the storage of an earlier split is reused, so a
    // caller on a hot path (matmul) keeps one object instead of allocating per call.
    void reset(int64_t n, int parts);

    // The next unit for thread `part`, or -1 when every unit has been handed out.
    int64_t next(int part);

private:
    // One thread's remaining units [begin, end), packed so that one compare-and-swap changes both.
    struct alignas(64) Range {
        std::atomic<uint64_t> bounds;
    };
    static uint64_t pack(uint32_t begin, uint32_t end) { return uint64_t(end) << 32 | begin; }
    static uint32_t begin_of(uint64_t b) { return uint32_t(b); }
    static uint32_t end_of(uint64_t b) { return uint32_t(b >> 32); }

    bool steal_into(int part);

    int parts_ = 0, capacity_ = 0;
    std::unique_ptr<Range[]> ranges_;
};

}  // namespace sluice
