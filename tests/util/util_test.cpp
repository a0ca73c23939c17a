#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "error_bound.h"
#include "util/error.h"
#include "util/half.h"
#include "util/size.h"
#include "util/thread_pool.h"

namespace sluice {

TEST(Size, ParsesUnitsAndPlainCounts) {
    EXPECT_EQ(parse_size("4G"), 4ull << 30);
    EXPECT_EQ(parse_size("512M"), 512ull << 20);
    EXPECT_EQ(parse_size("1.5G"), 3ull << 29);
    EXPECT_EQ(parse_size("1048576"), 1048576ull);
    EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
    EXPECT_THROW(parse_size("lots"), Error);
    EXPECT_THROW(parse_size("4X"), Error);
    EXPECT_THROW(parse_size(""), Error);
    EXPECT_THROW(parse_size("-1G"), Error);
}

TEST(Half, Bf16RoundTripsAndRoundsToNearestEven) {
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.5f)), 1.5f);
    // 1 + 2^-8 is exactly between two bf16 values; ties go to even (1.0).
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
}

TEST(Half, F16MatchesExhaustiveRoundTrip) {
    // Every finite f16 value converts to float and back unchanged.
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if (((h >> 10) & 0x1f) == 0x1f) continue;
        float f = f16_to_f32(uint16_t(h));
        ASSERT_EQ(f32_to_f16(f), uint16_t(h)) << h;
    }
    EXPECT_EQ(f16_to_f32(f32_to_f16(65504.0f)), 65504.0f);
    EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
}

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
    ThreadPool pool(3);
    for (int64_t n : {1, 2, 7, 100, 1001}) {
        for (int64_t grain : {1, 3, 64}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            pool.parallel_for(n, [&](int, int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
            }, grain);
            for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << n << " " << grain << " " << i;
        }
    }
}

// A worker's exception reaches the caller (instead of terminating the process), and the pool
// keeps working afterwards.
TEST(ThreadPool, AnExceptionOnAWorkerIsRethrownToTheCaller) {
    ThreadPool pool(2);
    EXPECT_THROW(pool.parallel_for(2, [](int thread, int64_t, int64_t) {
        if (thread == 1) throw std::runtime_error("worker failed");
    }), std::runtime_error);
    std::atomic<int> calls{0};
    pool.parallel_for(2, [&](int, int64_t, int64_t) { ++calls; });
    EXPECT_EQ(calls.load(), 2);
}

// The helper every error bound in the tests goes through: a NaN anywhere makes the maximum NaN
// (std::max would keep 0 and let an all-NaN output pass).
TEST(ErrorBound, NanAnywhereMakesTheMaximumNan) {
    const float nan = std::nanf("");
    EXPECT_TRUE(std::isnan(test::worse(0.0f, nan)));
    EXPECT_TRUE(std::isnan(test::worse(nan, 1.0f)));
    EXPECT_EQ(test::worse(1.0, 2.0), 2.0);
    EXPECT_EQ(test::worse(2.0, 1.0), 2.0);
    const float a[3] = {1, nan, 3}, b[3] = {1, 2, 3}, c[3] = {1, 2.5f, 3};
    EXPECT_TRUE(std::isnan(test::max_abs_diff(a, b, 3)));
    EXPECT_TRUE(std::isnan(test::max_abs_diff(b, a, 3)));
    EXPECT_EQ(test::max_abs_diff(b, c, 3), 0.5f);
}

}  // namespace sluice
