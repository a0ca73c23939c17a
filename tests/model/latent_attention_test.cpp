// Multi-head latent attention over its compressed cache equals plain attention with one KV head
// whose key is [latent, rope key] and whose value is [latent, 0]: the same rows stored the same
// way in every cache type (latent widths are whole Q8_0 blocks), so the rounding bounds that
// kv_cache_test.cpp proves for plain attention hold for the latent cache too.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "error_bound.h"
#include "model/attention.h"
#include "model/latent_attention.h"

namespace sluice {
namespace {

struct Shape {
    int64_t heads, latent, rope, prefill, steps;
};

void check(KvCacheType type, const Shape& s, uint32_t seed) {
    const int64_t H = s.heads, L = s.latent, R = s.rope, W = L + R, T = s.prefill + s.steps;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto random = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = normal(rng);
        return v;
    };
    const auto q_lat = random(T * H * L), q_rope = random(T * H * R), lat = random(T * L), k_rope = random(T * R);
    // The same attention, written plainly: q and k of W values per head, v the latent padded.
    std::vector<float> q(size_t(T * H * W)), k(size_t(T * W)), v(size_t(T * W), 0.0f);
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t h = 0; h < H; ++h) {
            std::copy_n(&q_lat[size_t((t * H + h) * L)], L, &q[size_t((t * H + h) * W)]);
            std::copy_n(&q_rope[size_t((t * H + h) * R)], R, &q[size_t((t * H + h) * W + L)]);
        }
        std::copy_n(&lat[size_t(t * L)], L, &k[size_t(t * W)]);
        std::copy_n(&k_rope[size_t(t * R)], R, &k[size_t(t * W + L)]);
        std::copy_n(&lat[size_t(t * L)], L, &v[size_t(t * W)]);
    }
    LatentCache latent(type, T, L, R);
    KvCache plain(type, T, 1, W);
    std::vector<float> got(size_t(T * H * L)), want(size_t(T * H * W));
    const float scale = 1.0f / std::sqrt(float(W));   // plain attention's
    latent_attention(q_lat.data(), q_rope.data(), lat.data(), k_rope.data(), s.prefill, 0, H, scale, latent, got.data());
    attention(q.data(), k.data(), v.data(), s.prefill, 0, H, plain, want.data());
    for (int64_t t = s.prefill; t < T; ++t) {
        latent_attention(&q_lat[size_t(t * H * L)], &q_rope[size_t(t * H * R)], &lat[size_t(t * L)], &k_rope[size_t(t * R)],
                         1, t, H, scale, latent, &got[size_t(t * H * L)]);
        attention(&q[size_t(t * H * W)], &k[size_t(t * W)], &v[size_t(t * W)], 1, t, H, plain, &want[size_t(t * H * W)]);
    }
    float worst = 0;
    for (int64_t r = 0; r < T * H; ++r)
        for (int64_t d = 0; d < L; ++d) worst = test::worse(worst, std::fabs(got[size_t(r * L + d)] - want[size_t(r * W + d)]));
    // Both sum the same products in float32, in another order: a few roundoffs of outputs ≤ ~3.
    EXPECT_LE(worst, 1e-5f) << kv_cache_type_name(type) << " H " << H << " L " << L << " R " << R;
    EXPECT_EQ(latent.bytes(), latent_cache_bytes(type, T, W));
}

TEST(LatentAttention, EqualsPlainAttentionOverTheSameRows) {
    const Shape shapes[] = {{4, 32, 16, 11, 3}, {6, 64, 32, 40, 5}, {5, 512, 64, 9, 2}};
    uint32_t seed = 1;
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16, KvCacheType::Q8_0})
        for (const Shape& s : shapes) check(type, s, seed++);
}

}  // namespace
}  // namespace sluice
