// Attention over f16 and q8_0 KV caches against the float32 cache, within a bound derived from
// each format's rounding, at odd head sizes, GQA groups below and above the dot kernel's
// kMaxCols, a prefill then single-token steps, on every instruction set this CPU runs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "error_bound.h"
#include "force_isa.h"
#include "kernels/dot.h"
#include "model/attention.h"
#include "util/error.h"

namespace sluice {
namespace {

using kernels::Isa;

constexpr double kU32 = 0x1p-24;   // float32 unit roundoff
constexpr double kU16 = 0x1p-11;   // f16 unit roundoff

double gamma(int64_t n) { return double(n) * kU32 / (1.0 - double(n) * kU32); }

// For each value of rows of D, a bound on |stored − value| in `type`:
// - f16: round to nearest, relative 2^-11, and half the smallest subnormal 2^-25 absolute;
// - q8_0: blocks of 32 along the row (padded with zeros), d = amax/127 stored as f16 and
//   q = round(x/d) in [-127, 127]: |q·f16(d) − x| ≤ d/2 + 127·|f16(d) − d| ≤ d·(1/2 + 127·2^-11),
//   with the float product x·127/amax off by a few float roundoffs.
std::vector<double> rounding_bounds(KvCacheType type, const std::vector<float>& x, int64_t D) {
    std::vector<double> e(x.size(), 0.0);
    if (type == KvCacheType::F16) {
        for (size_t i = 0; i < x.size(); ++i) e[i] = std::fabs(double(x[i])) * kU16 + 0x1p-25;
        return e;
    }
    for (size_t r = 0; r < x.size() / size_t(D); ++r)
        for (int64_t b0 = 0; b0 < D; b0 += 32) {
            const int64_t b1 = std::min<int64_t>(D, b0 + 32);
            double amax = 0;
            for (int64_t i = b0; i < b1; ++i) amax = std::max(amax, std::fabs(double(x[r * D + i])));
            const double d = amax / 127.0;
            for (int64_t i = b0; i < b1; ++i) e[r * D + i] = d * (0.5 + 127.0 * kU16) + amax * 4 * kU32;
        }
    return e;
}

struct Shape {
    int64_t heads, kv_heads, D, prefill, steps;
};

void check_against_f32(KvCacheType type, const Shape& s, uint32_t seed) {
    const int64_t H = s.heads, KV = s.kv_heads, D = s.D, T = s.prefill + s.steps, group = H / KV;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto random = [&](int64_t n, float sd) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = sd * normal(rng);
        return v;
    };
    // Scores of a few units, as a trained model's: softmax neither uniform nor one-hot.
    const auto q = random(T * H * D, 1.5f), k = random(T * KV * D, 1.5f), v = random(T * KV * D, 1.0f);
    const auto ek = rounding_bounds(type, k, D), ev = rounding_bounds(type, v, D);
    // A q8_0 cache's q·k takes q quantised to Q8_0 blocks too; f16 keeps q in float32.
    const auto eq = type == KvCacheType::Q8_0 ? rounding_bounds(type, q, D) : std::vector<double>(q.size(), 0.0);

    KvCache exact(KvCacheType::F32, T, KV, D), rounded(type, T, KV, D);
    std::vector<float> want(size_t(T * H * D)), got(want.size());
    auto run = [&](KvCache& cache, std::vector<float>& out) {
        attention(q.data(), k.data(), v.data(), s.prefill, 0, H, cache, out.data());
        for (int64_t t = s.prefill; t < T; ++t)
            attention(q.data() + t * H * D, k.data() + t * KV * D, v.data() + t * KV * D, 1, t, H, cache,
                      out.data() + t * H * D);
    };
    run(exact, want);
    run(rounded, got);

    const double scale = 1.0 / std::sqrt(double(D));
    const int64_t Dp = type == KvCacheType::Q8_0 ? (D + 31) / 32 * 32 : D;
    double worst_excess = -1, largest = 0;
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) {
            const int64_t kv = h / group, len = t + 1;
            const float* qh = q.data() + (t * H + h) * D;
            const double* eqh = eq.data() + (t * H + h) * D;
            // Exact softmax, and the bound E on each score's error: the stored rounding of k (and
            // of q), plus both paths' float32 dot products (γ_Dp of Σ|q||k| each).
            std::vector<double> x(static_cast<size_t>(len)), sp(static_cast<size_t>(len));
            double E = 0, xmax = -1e300;
            for (int64_t p = 0; p < len; ++p) {
                const float* kp = k.data() + (p * KV + kv) * D;
                const double* ekp = ek.data() + (p * KV + kv) * D;
                double dot = 0, rounding = 0, magnitude = 0;
                for (int64_t i = 0; i < D; ++i) {
                    const double qa = std::fabs(qh[i]), ka = std::fabs(kp[i]);
                    dot += double(qh[i]) * kp[i];
                    rounding += qa * ekp[i] + eqh[i] * ka + eqh[i] * ekp[i];
                    magnitude += (qa + eqh[i]) * (ka + ekp[i]);
                }
                x[size_t(p)] = dot * scale;
                xmax = std::max(xmax, x[size_t(p)]);
                E = std::max(E, scale * (rounding + 2 * gamma(Dp + 2) * magnitude));
            }
            double sum = 0;
            for (int64_t p = 0; p < len; ++p) sum += sp[size_t(p)] = std::exp(x[size_t(p)] - xmax);
            for (double& w : sp) w /= sum;
            // Scores off by at most E move each softmax weight by a factor within e^{±2E}, so
            // |õ − o| ≤ (e^{2E} − 1)·Σ s|v| + e^{2E}·Σ s|δv|, plus both paths' float32 softmax
            // and weighted sums (γ_{len+D} of the same sums).
            const double grow = std::exp(2 * E);
            for (int64_t d = 0; d < D; ++d) {
                double A = 0, B = 0;
                for (int64_t p = 0; p < len; ++p) {
                    const size_t at = size_t((p * KV + kv) * D + d);
                    A += sp[size_t(p)] * std::fabs(v[at]);
                    B += sp[size_t(p)] * ev[at];
                }
                const double bound = (grow - 1) * A + grow * B + 2 * gamma(len + D) * grow * (A + B);
                const size_t at = size_t((t * H + h) * D + d);
                const double diff = std::fabs(double(got[at]) - double(want[at]));
                ASSERT_FALSE(std::isnan(got[at])) << "t " << t << " h " << h << " d " << d;
                ASSERT_LE(diff, bound) << "t " << t << " h " << h << " d " << d;
                worst_excess = std::max(worst_excess, diff / bound);
                largest = std::max(largest, diff);
            }
        }
    // The cache really is in the rounded format: its output differs from float32's.
    EXPECT_GT(largest, 0.0);
    std::printf("%s H %lld/%lld D %lld T %lld: max |Δ| %.3g, at most %.2f of the bound\n", kv_cache_type_name(type),
                (long long)H, (long long)KV, (long long)D, (long long)T, largest, worst_excess);
}

using test::ForceIsa;

void check_all(KvCacheType type) {
    // Head sizes: below a block, odd, one past a block, the real models' 128; groups of 3 (one
    // kernel call) and 6 (two, the second partial).
    const Shape shapes[] = {{6, 2, 17, 29, 4}, {6, 2, 40, 13, 6}, {12, 2, 33, 70, 3}, {8, 4, 128, 45, 2}};
    for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) {
        if (!kernels::isa_supported(isa)) continue;
        ForceIsa force(isa);
        SCOPED_TRACE(kernels::isa_name(isa));
        uint32_t seed = 1;
        for (const Shape& s : shapes) check_against_f32(type, s, seed++);
    }
}

TEST(KvCache, F16AttentionWithinTheRoundingBoundOfF32) { check_all(KvCacheType::F16); }
TEST(KvCache, Q8_0AttentionWithinTheRoundingBoundOfF32) { check_all(KvCacheType::Q8_0); }

// Bytes held: the planner's count (kv_cache_bytes) is what the cache allocates.
TEST(KvCache, HoldsTheBytesOfItsFormat) {
    EXPECT_EQ(KvCache(KvCacheType::F32, 10, 3, 17).bytes(), 2u * 10 * 3 * 17 * 4);
    EXPECT_EQ(KvCache(KvCacheType::F16, 10, 3, 17).bytes(), 2u * 10 * 3 * 17 * 2);
    EXPECT_EQ(KvCache(KvCacheType::Q8_0, 10, 3, 40).bytes(), 2u * 10 * 3 * 2 * 34);
    for (KvCacheType t : {KvCacheType::F32, KvCacheType::F16, KvCacheType::Q8_0})
        EXPECT_EQ(KvCache(t, 7, 2, 72).bytes(), kv_cache_bytes(t, 7, 2, 72));
}

TEST(KvCache, ParsesTheOptionAndRefusesOthers) {
    EXPECT_EQ(parse_kv_cache_type("f16"), KvCacheType::F16);
    EXPECT_EQ(parse_kv_cache_type("q8_0"), KvCacheType::Q8_0);
    EXPECT_EQ(parse_kv_cache_type("f32"), KvCacheType::F32);
    try {
        parse_kv_cache_type("q4_0");
        FAIL() << "accepted q4_0";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "--cache-type: expected f32, f16 or q8_0, got 'q4_0'");
    }
}

}  // namespace
}  // namespace sluice
