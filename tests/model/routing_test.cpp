// Router top-K (softmax, renormalisation) and the benchmarks' uniform routing.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "model/blocks.h"

namespace sluice {
namespace {

TEST(Routing, TopKTakesTheLargestLogitsAndRenormalises) {
    const std::vector<float> logits = {0.0f, 2.0f, -1.0f, 1.0f, 2.0f};
    MoeRouting r{.n_used = 2, .normalize = true};
    int32_t ids[2];
    float w[2];
    route_top_k(logits.data(), 1, 5, r, ids, w);
    EXPECT_EQ(ids[0], 1);   // ties go to the lower id
    EXPECT_EQ(ids[1], 4);
    EXPECT_FLOAT_EQ(w[0], 0.5f);
    EXPECT_FLOAT_EQ(w[1], 0.5f);

    r.normalize = false;   // plain softmax probabilities
    route_top_k(logits.data(), 1, 5, r, ids, w);
    double sum = 0;
    for (float l : logits) sum += std::exp(double(l));
    EXPECT_NEAR(w[0], std::exp(2.0) / sum, 1e-6);
}

// gpt-oss: the router bias is added first, the K largest logits chosen, then weighted by a
// softmax over those K alone.
TEST(Routing, SoftmaxOfChosenWeighsOnlyTheKeptLogits) {
    const std::vector<float> logits = {0.0f, 2.0f, -1.0f, 1.0f, 0.5f};
    const std::vector<float> bias = {0.0f, 0.0f, 0.0f, 0.0f, 1.0f};   // expert 4: 1.5, above expert 3
    MoeRouting r{.n_used = 2, .normalize = true, .gating = Gating::SoftmaxOfChosen, .logit_bias = bias};
    int32_t ids[2];
    float w[2];
    route_top_k(logits.data(), 1, 5, r, ids, w);
    EXPECT_EQ(ids[0], 1);
    EXPECT_EQ(ids[1], 4);
    EXPECT_NEAR(w[0], 1.0 / (1.0 + std::exp(-0.5)), 1e-6);
    EXPECT_NEAR(w[1], 1.0 / (1.0 + std::exp(0.5)), 1e-6);
}

TEST(Routing, UniformDrawsDistinctExpertsEvenlyAndRepeatably) {
    const int64_t E = 64, K = 8, T = 4000;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    std::vector<float> logits(size_t(T * E));
    for (auto& l : logits) l = normal(rng);
    // A random-weight router's logits favour a few experts for every token: uniform routing
    // must ignore that.
    for (int64_t t = 0; t < T; ++t) logits[size_t(t * E)] += 100.0f;
    MoeRouting r{.n_used = K, .normalize = true, .uniform = true};
    std::vector<int32_t> ids(size_t(T * K)), again(ids.size());
    std::vector<float> w(ids.size());
    route_top_k(logits.data(), T, E, r, ids.data(), w.data());
    route_top_k(logits.data(), T, E, r, again.data(), w.data());
    EXPECT_EQ(ids, again);

    std::vector<int> count(static_cast<size_t>(E));
    for (int64_t t = 0; t < T; ++t) {
        std::set<int32_t> distinct(ids.begin() + t * K, ids.begin() + (t + 1) * K);
        ASSERT_EQ(int64_t(distinct.size()), K) << "token " << t;
        for (int32_t e : distinct) {
            ASSERT_GE(e, 0);
            ASSERT_LT(e, E);
            ++count[size_t(e)];
        }
    }
    for (float x : w) EXPECT_FLOAT_EQ(x, 1.0f / K);
    // Each expert is expected T·K/E = 500 times (standard deviation ≈ 21).
    const auto [lo, hi] = std::minmax_element(count.begin(), count.end());
    EXPECT_GT(*lo, 400);
    EXPECT_LT(*hi, 600);
}

}  // namespace
}  // namespace sluice
