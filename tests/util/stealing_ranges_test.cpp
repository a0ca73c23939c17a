#include "util/stealing_ranges.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "util/error.h"

namespace sluice {
namespace {

// Every unit handed out exactly once, by whichever threads take them.
std::vector<int> handed_out_counts(int64_t n, int parts, int slow_part = -1) {
    StealingRanges ranges(n, parts);
    std::vector<std::vector<int64_t>> taken(static_cast<size_t>(parts));
    std::vector<std::thread> threads;
    for (int p = 0; p < parts; ++p)
        threads.emplace_back([&, p] {
            for (int64_t u = ranges.next(p); u >= 0; u = ranges.next(p)) {
                taken[size_t(p)].push_back(u);
                if (p == slow_part) std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        });
    for (auto& t : threads) t.join();
    std::vector<int> count(static_cast<size_t>(n));
    for (const auto& list : taken)
        for (int64_t u : list) ++count[size_t(u)];
    return count;
}

TEST(StealingRanges, HandsOutEveryUnitOnce) {
    for (int parts : {1, 2, 3, 8})
        for (int64_t n : {0, 1, 5, 7, 1000}) {
            const std::vector<int> count = handed_out_counts(n, parts);
            for (int64_t u = 0; u < n; ++u) ASSERT_EQ(count[size_t(u)], 1) << "unit " << u << " of " << n << ", " << parts << " threads";
        }
}

TEST(StealingRanges, ADelayedThreadsUnitsAreTakenByTheOthers) {
    StealingRanges ranges(100, 2);
    // Thread 1 never runs: thread 0 walks its own half, then takes thread 1's in halves.
    std::vector<int64_t> order;
    for (int64_t u = ranges.next(0); u >= 0; u = ranges.next(0)) order.push_back(u);
    ASSERT_EQ(order.size(), 100u);
    for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(order[size_t(i)], i) << "its own range first, front to back";
    EXPECT_EQ(order[50], 75) << "then the back half of the other range";
    EXPECT_EQ(ranges.next(1), -1);

    const std::vector<int> count = handed_out_counts(300, 3, /*slow_part=*/1);
    for (int c : count) ASSERT_EQ(c, 1);
}

TEST(StealingRanges, EachThreadStartsAtTheFrontOfItsOwnRun) {
    StealingRanges ranges(10, 3);
    EXPECT_EQ(ranges.next(0), 0);
    EXPECT_EQ(ranges.next(1), 3);
    EXPECT_EQ(ranges.next(2), 6);
    EXPECT_EQ(ranges.next(1), 4);
}

TEST(StealingRanges, ResetStartsANewSplitOverMoreOrFewerThreads) {
    StealingRanges ranges(4, 2);
    while (ranges.next(0) >= 0) {}
    ranges.reset(12, 3);
    EXPECT_EQ(ranges.next(2), 8);
    ranges.reset(6, 1);
    for (int64_t u = 0; u < 6; ++u) EXPECT_EQ(ranges.next(0), u);
    EXPECT_EQ(ranges.next(0), -1);
}

TEST(StealingRanges, RefusesNoThreads) {
    EXPECT_THROW(StealingRanges(10, 0), Error);
}

}  // namespace
}  // namespace sluice
