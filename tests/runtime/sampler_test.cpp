#include <gtest/gtest.h>

#include <map>

#include "runtime/sampler.h"

namespace sluice {
namespace {

TEST(Sampler, GreedyPicksTheLargestLogitAndTheLowestIdOnTies) {
    Sampler s({.temperature = 0});
    std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
    EXPECT_EQ(s.sample(l, {}), 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferent) {
    std::vector<float> l(50);
    for (size_t i = 0; i < l.size(); ++i) l[i] = float(i % 7) * 0.3f;
    auto draw = [&](uint64_t seed) {
        Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = seed});
        std::vector<int32_t> out;
        for (int i = 0; i < 32; ++i) out.push_back(s.sample(l, {}));
        return out;
    };
    EXPECT_EQ(draw(3), draw(3));
    EXPECT_NE(draw(3), draw(4));
}

TEST(Sampler, TopKAndTopPKeepOnlyTheHead) {
    std::vector<float> l = {5.0f, 4.9f, 0.0f, -2.0f, -3.0f};
    Sampler k2({.temperature = 1.0f, .top_k = 2, .top_p = 1.0f, .min_p = 0.0f, .seed = 1});
    Sampler p({.temperature = 1.0f, .top_k = 0, .top_p = 0.5f, .min_p = 0.0f, .seed = 1});
    for (int i = 0; i < 200; ++i) {
        EXPECT_LT(k2.sample(l, {}), 2);
        EXPECT_EQ(p.sample(l, {}), 0);  // the first token alone reaches 0.5
    }
}

// Min-p (on by default) drops every token whose probability is below min_p times the largest.
// Probabilities relative to the first: 0.90, 0.37, 0.22; min_p 0.3 keeps the first three.
TEST(Sampler, MinPDropsTokensBelowItsShareOfTheTop) {
    std::vector<float> l = {1.0f, 0.9f, 0.0f, -0.5f};
    Sampler min_p({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.3f, .seed = 2});
    Sampler off({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 2});
    std::map<int32_t, int> kept, all;
    for (int i = 0; i < 2000; ++i) {
        kept[min_p.sample(l, {})]++;
        all[off.sample(l, {})]++;
    }
    EXPECT_EQ(kept.count(3), 0u);
    EXPECT_GT(kept[2], 0);
    EXPECT_GT(all[3], 0);   // without min-p the last token is drawn
    EXPECT_GT(SamplerOptions{}.min_p, 0.0f);
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
    std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 9});
    std::map<int32_t, int> n;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) n[s.sample(l, {})]++;
    EXPECT_NEAR(n[0] / double(draws), 0.5, 0.02);
    EXPECT_NEAR(n[1] / double(draws), 0.3, 0.02);
    EXPECT_NEAR(n[2] / double(draws), 0.2, 0.02);
}

TEST(Sampler, RepetitionPenaltyDemotesSeenTokens) {
    std::vector<float> l = {2.0f, 1.9f};
    Sampler s({.temperature = 0, .repeat_penalty = 1.5f});
    std::vector<int32_t> history = {0};
    EXPECT_EQ(s.sample(l, history), 1);
}

}  // namespace
}  // namespace sluice
