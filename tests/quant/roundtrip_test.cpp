// Quantise → dequantise error of every block type within its bound.
//
// Bounds. A group is the run of values one scale (and minimum) encodes; A its largest |x|, R
// its span max − min(0, min). A uniform quantiser with step s errs by at most s/2 when rounding
// and s when the far end is clamped; half-precision scales add a relative 2^-11 per level.
//   Q8_0  s = A/127, round to nearest:               |e| ≤ s·(1/2 + 127·2^-11)
//   Q4_0  s = A/8, levels −8..7 (the +A end clamps):  |e| ≤ s·(1 + 8·2^-11)
//   Q5_0  s = A/16, levels −16..15:                   |e| ≤ s·(1 + 16·2^-11)
//   Q4_1  s = R/15, affine:                           |e| ≤ s·(1/2 + 15·2^-11) + A·2^-11 (the half minimum)
//   Q5_1  s = R/31:                                   |e| ≤ s·(1/2 + 31·2^-11) + A·2^-11
//   K-quants and IQ4 fit each sub-block by least squares and then quantise the sub-block scales
//   against a super-scale: half a step for rounding, up to half a step where the fit clips the
//   end of the range, and a quarter step for the quantised scale (6 bits; Q2_K 4 bits), i.e.
//   |e| ≤ 1.25·s with s the step of the super-block's extreme value: Q2_K 2A/3, Q3_K A/4 (levels
//   −4..3), Q4_K 2A/15, Q5_K 2A/31, Q6_K A/32, IQ4 2A/15 (16 grid points over ±A), A over the
//   super-block (IQ4_NL: its 32-block).
//   MXFP4 scales each 32 values by d = 2^(⌊log2 A⌋ − 3), levels d·{0, 1, 2, 3, 4, 6, 8, 12} and
//   their negatives: the widest gap (8d to 12d) errs by 2d ≤ A/4 at most, and clamping at
//   12d = 1.5·2^⌊log2 A⌋ > 0.75·A by A/4 at most: |e| ≤ A/4. It has no rms check: its scale is
//   not fitted (the power of two below A, by definition) and every value goes to the nearest
//   point of a fixed grid, so there is no search to hold to account; its bytes are llama.cpp's
//   (ggml_match_test.cpp).
// Groups of tiny values have half-precision subnormal scales, multiples of 2^-24: every bound
// gets an absolute 64·2^-24 on top.
// On Gaussian data the root-mean-square error must also be no worse than plain rounding with each
// group's nominal step, sqrt(mean(s²/12)) (the fits do 0–15% better; 5% allowed for sampling).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "error_bound.h"
#include "quant/types.h"
#include "test_rows.h"

namespace sluice {
namespace {

struct Bound {
    GgmlType type;
    int group;           // values per scale for the max-error bound
    double max_per_a;    // |e| ≤ max_per_a·A (+ max_per_r·R)
    double max_per_r;
    int rms_group;       // values per nominal step for the rms check
    bool affine;         // nominal step from R (else from A)
    double levels;       // nominal step = (R or A) / levels
};

constexpr double kHalfUlp = 1.0 / 2048;  // relative rounding of a half-precision scale

const Bound kBounds[] = {
    {GgmlType::Q8_0, 32, (0.5 + 127 * kHalfUlp) / 127, 0, 32, false, 127},
    {GgmlType::Q4_0, 32, (1 + 8 * kHalfUlp) / 8, 0, 32, false, 8},
    {GgmlType::Q5_0, 32, (1 + 16 * kHalfUlp) / 16, 0, 32, false, 16},
    {GgmlType::Q4_1, 32, kHalfUlp, (0.5 + 15 * kHalfUlp) / 15, 32, true, 15},
    {GgmlType::Q5_1, 32, kHalfUlp, (0.5 + 31 * kHalfUlp) / 31, 32, true, 31},
    {GgmlType::Q2_K, 256, 1.25 * 2 / 3, 0, 16, true, 3},
    {GgmlType::Q3_K, 256, 1.25 / 4, 0, 16, false, 4},
    {GgmlType::Q4_K, 256, 1.25 * 2 / 15, 0, 32, true, 15},
    {GgmlType::Q5_K, 256, 1.25 * 2 / 31, 0, 32, true, 31},
    {GgmlType::Q6_K, 256, 1.25 / 32, 0, 16, false, 32},
    {GgmlType::IQ4_NL, 32, 1.25 * 2 / 15, 0, 32, false, 127.0 / 16},  // mean grid gap 16 of ±127
    {GgmlType::IQ4_XS, 256, 1.25 * 2 / 15, 0, 32, false, 127.0 / 16},
    {GgmlType::MXFP4, 32, 0.25, 0, 0, false, 0},   // rms_group 0: no rms check (above)
    {GgmlType::Q8_K, 256, 0.5001 / 127, 0, 256, false, 127},  // float scale: half a step
};

std::vector<float> round_trip(GgmlType t, const std::vector<float>& x) {
    const int64_t n = int64_t(x.size());
    std::vector<uint8_t> q(row_bytes(t, n));
    quantize_row_ref(t, x.data(), q.data(), n);
    std::vector<float> y(x.size());
    dequantize_row_ref(t, q.data(), y.data(), n);
    return y;
}

void group_stats(const float* x, int n, float& a, float& r) {
    float mn = x[0], mx = x[0];
    a = 0;
    for (int j = 0; j < n; ++j) {
        mn = std::min(mn, x[j]);
        mx = std::max(mx, x[j]);
        a = std::max(a, std::fabs(x[j]));
    }
    r = mx - std::min(mn, 0.0f);
}

TEST(QuantRoundTrip, MaxErrorWithinTheTypeBound) {
    const int64_t n = 256 * 2048;
    for (uint64_t seed : {1u, 2u}) {
        const std::vector<float> x = test::quant_test_row(n, seed);
        for (const Bound& b : kBounds) {
            SCOPED_TRACE(type_name(b.type));
            const std::vector<float> y = round_trip(b.type, x);
            double worst = 0;  // largest error / bound
            for (int64_t g = 0; g < n / b.group; ++g) {
                float a, r;
                group_stats(x.data() + g * b.group, b.group, a, r);
                const double bound = b.max_per_a * a + b.max_per_r * r + 64.0 / (1 << 24);
                for (int j = 0; j < b.group; ++j) {
                    const size_t i = size_t(g * b.group + j);
                    worst = test::worse(worst, std::fabs(double(y[i]) - double(x[i])) / bound);
                }
            }
            EXPECT_LE(worst, 1.0);
        }
    }
}

TEST(QuantRoundTrip, RmsErrorNoWorseThanRoundingWithTheNominalStep) {
    const int64_t n = 256 * 2048;
    std::mt19937_64 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = normal(rng);
    for (const Bound& b : kBounds) {
        if (b.rms_group == 0) continue;
        SCOPED_TRACE(type_name(b.type));
        const std::vector<float> y = round_trip(b.type, x);
        double err2 = 0, nominal2 = 0;
        for (size_t i = 0; i < x.size(); ++i) err2 += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
        for (int64_t g = 0; g < n / b.rms_group; ++g) {
            float a, r;
            group_stats(x.data() + g * b.rms_group, b.rms_group, a, r);
            const double step = (b.affine ? r : a) / b.levels;
            nominal2 += step * step / 12 * b.rms_group;
        }
        EXPECT_LE(std::sqrt(err2 / nominal2), 1.05);
    }
}

TEST(QuantRoundTrip, AllZeroRowsStayZeroAndQuantisingIsDeterministic) {
    for (const Bound& b : kBounds) {
        SCOPED_TRACE(type_name(b.type));
        const std::vector<float> zeros(512, 0.0f);
        for (float v : round_trip(b.type, zeros)) EXPECT_EQ(v, 0.0f);
        const std::vector<float> x = test::quant_test_row(512, 3);
        EXPECT_EQ(round_trip(b.type, x), round_trip(b.type, x));
    }
}

TEST(QuantTypes, RowBytesAndNames) {
    EXPECT_EQ(row_bytes(GgmlType::Q4_K, 2048), 8u * 144);
    EXPECT_EQ(row_bytes(GgmlType::Q8_0, 96), 3u * 34);
    EXPECT_EQ(type_from_name("IQ4_XS"), GgmlType::IQ4_XS);
    EXPECT_TRUE(type_info(GgmlType::Q6_K).supported);
    EXPECT_FALSE(type_info(GgmlType::Q8_K).supported);  // activations only
    EXPECT_THROW(row_bytes(GgmlType::Q4_K, 100), std::exception);
}

}  // namespace
}  // namespace sluice
