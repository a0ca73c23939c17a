// Routing statistics on traces whose answers are known: entropy of an even spread is 1 and of a
// single expert 0, the top 10% share, and reuse between consecutive calls.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/routing_stats.h"
#include "util/error.h"

namespace sluice {
namespace {

TEST(RoutingStats, EveryExpertEquallyOftenHasEntropyOne) {
    RoutingStats s(1, 20);
    // Four experts per call, cycling through all 20: each is used equally often, no call shares
    // an expert with the one before.
    for (int call = 0; call < 10; ++call) {
        std::vector<int32_t> ids;
        for (int j = 0; j < 4; ++j) ids.push_back((call * 4 + j) % 20);
        s.record(0, ids);
    }
    RoutingSummary r = s.summary();
    ASSERT_EQ(r.layers.size(), 1u);
    EXPECT_NEAR(r.entropy, 1.0, 1e-12);
    EXPECT_NEAR(r.layers[0].top10_share, 0.1, 1e-12);   // 2 of 20 experts, 8 of 40 uses
    EXPECT_DOUBLE_EQ(r.reuse, 0.0);
    EXPECT_EQ(r.layers[0].calls, 10u);
    EXPECT_EQ(r.layers[0].uses, 40u);
}

TEST(RoutingStats, OneExpertHasEntropyZeroAndFullReuse) {
    RoutingStats s(2, 16);
    const std::vector<int32_t> one{7};
    for (int call = 0; call < 5; ++call) s.record(1, one);
    RoutingSummary r = s.summary();
    ASSERT_EQ(r.layers.size(), 1u);   // layer 0 was never asked
    EXPECT_EQ(r.layers[0].layer, 1);
    EXPECT_DOUBLE_EQ(r.entropy, 0.0);
    EXPECT_DOUBLE_EQ(r.top10_share, 1.0);
    EXPECT_DOUBLE_EQ(r.reuse, 1.0);
}

TEST(RoutingStats, RepeatedTraceIsFullyReused) {
    RoutingStats s(1, 8);
    const std::vector<int32_t> ids{1, 3, 5};
    for (int call = 0; call < 4; ++call) s.record(0, ids);
    EXPECT_DOUBLE_EQ(s.summary().reuse, 1.0);
}

TEST(RoutingStats, PartialReuseAndSkewAreCounted) {
    RoutingStats s(1, 10);
    s.record(0, std::vector<int32_t>{0, 1});
    s.record(0, std::vector<int32_t>{0, 2});   // half of it used before
    s.record(0, std::vector<int32_t>{3, 4});   // none
    RoutingSummary r = s.summary();
    EXPECT_DOUBLE_EQ(r.reuse, 0.25);
    // Uses: expert 0 twice, 1..4 once: top 10% (one expert) takes 2 of 6.
    EXPECT_DOUBLE_EQ(r.top10_share, 2.0 / 6.0);
    const double h = -(2.0 / 6 * std::log(2.0 / 6) + 4 * (1.0 / 6 * std::log(1.0 / 6)));
    EXPECT_NEAR(r.entropy, h / std::log(10.0), 1e-12);
}

TEST(RoutingStats, ResetForgetsEverything) {
    RoutingStats s(1, 4);
    s.record(0, std::vector<int32_t>{1});
    s.reset();
    EXPECT_TRUE(s.summary().empty());
    s.record(0, std::vector<int32_t>{2});
    s.record(0, std::vector<int32_t>{3});
    EXPECT_DOUBLE_EQ(s.summary().reuse, 0.0);   // the call before the reset does not count
}

TEST(RoutingStats, RejectsLayerOrExpertOutsideTheModel) {
    RoutingStats s(2, 4);
    EXPECT_THROW(s.record(2, std::vector<int32_t>{0}), Error);
    EXPECT_THROW(s.record(0, std::vector<int32_t>{4}), Error);
}

}  // namespace
}  // namespace sluice
