// Router top-K (softmax, renormalisation) and the benchmarks' uniform routing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// DeepSeek-V3 / GLM-4.5 routing, worked by hand: 8 experts in 4 groups of 2, the best 2 groups
// kept. Choice scores are sigmoid + bias; the weights are the plain sigmoids, renormalised over
// the chosen and scaled.
TEST(Routing, SigmoidGatingChoosesWithinTheBestGroupsByBiasedScore) {
    const std::vector<float> logits = {3.0f, 2.0f, 0.0f, 0.5f, 1.0f, 1.0f, -1.0f, 4.0f};
    const std::vector<float> bias = {0, 0, 0.9f, 0.9f, 0, 0, 0, -0.5f};
    MoeRouting r{.n_used = 2, .normalize = true, .gating = Gating::Sigmoid, .score_bias = bias, .groups = 4,
                 .groups_used = 2, .scale = 2.5f};
    auto sig = [](float x) { return 1.0 / (1.0 + std::exp(-double(x))); };
    // Group sums of choice scores: g0 = σ3 + σ2 = 1.83, g1 = σ0 + σ.5 + 1.8 = 2.92,
    // g2 = 2σ1 = 1.46, g3 = σ(−1) + σ4 − 0.5 = 0.75: groups 1 and 0 are kept. Expert 7 (the largest
    // logit) is in a dropped group; expert 3 (σ.5 + .9 = 1.52) beats expert 0 (σ3 = 0.95).
    int32_t ids[2];
    float w[2];
    route_top_k(logits.data(), 1, 8, r, ids, w);
    EXPECT_EQ(ids[0], 3);
    EXPECT_EQ(ids[1], 2);
    const double sum = sig(0.5f) + sig(0.0f);
    EXPECT_NEAR(w[0], 2.5 * sig(0.5f) / sum, 1e-6);
    EXPECT_NEAR(w[1], 2.5 * sig(0.0f) / sum, 1e-6);

    r.normalize = false;   // GGUFs without expert_weights_norm: the sigmoids, scaled
    route_top_k(logits.data(), 1, 8, r, ids, w);
    EXPECT_NEAR(w[0], 2.5 * sig(0.5f), 1e-6);

    r.groups_used = 4;     // every group: the biased scores alone decide
    r.score_bias = {};
    route_top_k(logits.data(), 1, 8, r, ids, w);
    EXPECT_EQ(ids[0], 7);
    EXPECT_EQ(ids[1], 0);
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
