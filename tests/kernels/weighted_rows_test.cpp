// The weighted sum of Q8_0 rows (attention's V over a q8_0 KV cache) on every instruction set
// this CPU has, against the double-precision sum of the dequantised rows, at padded head sizes
// of one to five blocks, lengths around the SIMD kernels' 64-position tile, 1–4 weight rows,
// rows interleaved with other heads' and output rows wider than the head.
//
// Tolerance. Every kernel adds the terms w_p·v̂_p (v̂ the dequantised value, rounded as the
// reference dequantiser rounds it) to the starting value one position at a time, in order of p:
// a chain of len additions with a product rounded once (FMA) or twice (the portable multiply
// then add), so by the standard bound
//     |kernel − exact| ≤ γ_{len+1}·(|out₀| + Σ_p |w_p|·|v̂_p|),   γ_n = n·u / (1 − n·u), u = 2^-24.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/dot.h"
#include "quant/blocks.h"

namespace sluice {
namespace {

using kernels::Isa;

double gamma(int64_t n) { return double(n) * 0x1p-24 / (1.0 - double(n) * 0x1p-24); }

struct Case {
    int64_t n, len;
    int nc;
};

void check(Isa isa, const Case& cs, uint32_t seed) {
    const kernels::KernelSet& ks = kernels::kernel_set(isa);
    constexpr int64_t kHeads = 3;     // rows of the other KV heads lie between a head's rows
    constexpr int64_t kWide = 5;      // output rows this much wider than n: left untouched
    const int64_t blocks = cs.n / 32;
    const size_t row_bytes = size_t(blocks) * sizeof(BlockQ8_0), v_stride = size_t(kHeads) * row_bytes;
    const size_t w_step = size_t(cs.len) + 3, out_step = size_t(cs.n + kWide);

    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<uint8_t> v(size_t(cs.len) * v_stride);
    std::vector<float> values(v.size() / sizeof(BlockQ8_0) * 32);   // every block, dequantised
    std::vector<float> row(32);
    for (size_t b = 0; b < v.size() / sizeof(BlockQ8_0); ++b) {
        // Blocks of varied magnitude, as real V rows have.
        const float scale = std::exp(2.0f * normal(rng));
        for (float& x : row) x = scale * normal(rng);
        ks.quantize_q8_0(row.data(), v.data() + b * sizeof(BlockQ8_0), 32);
        ks[GgmlType::Q8_0].dequantize(v.data() + b * sizeof(BlockQ8_0), values.data() + b * 32, 32);
    }
    // Softmax-like weights (positive, a few large) and a nonzero starting output.
    std::vector<float> w(size_t(cs.nc) * w_step);
    for (float& x : w) x = std::exp(4.0f * uniform(rng)) / float(cs.len);
    std::vector<float> out(size_t(cs.nc) * out_step);
    for (float& x : out) x = normal(rng);
    const std::vector<float> start = out;

    const int64_t head = 1;   // the middle head's rows
    ks.weighted_rows_q8_0(cs.n, cs.len, v.data() + size_t(head) * row_bytes, v_stride, w.data(), w_step, cs.nc,
                          out.data(), out_step);

    for (int c = 0; c < cs.nc; ++c) {
        for (int64_t i = 0; i < cs.n; ++i) {
            const size_t at = size_t(c) * out_step + size_t(i);
            double exact = start[at], magnitude = std::fabs(start[at]);
            for (int64_t p = 0; p < cs.len; ++p) {
                const double wp = w[size_t(c) * w_step + size_t(p)];
                const double vp = values[(size_t(p) * kHeads + head) * size_t(cs.n) + size_t(i)];
                exact += wp * vp;
                magnitude += std::fabs(wp * vp);
            }
            const double bound = gamma(cs.len + 1) * magnitude;
            const double diff = std::fabs(double(out[at]) - exact);
            ASSERT_FALSE(std::isnan(out[at])) << "row " << c << " value " << i;
            ASSERT_LE(diff, bound) << "row " << c << " value " << i;
        }
        for (int64_t i = cs.n; i < cs.n + kWide; ++i) {
            const size_t at = size_t(c) * out_step + size_t(i);
            ASSERT_EQ(out[at], start[at]) << "row " << c << " wrote past its " << cs.n << " values";
        }
    }
}

TEST(Kernels, WeightedQ8_0RowsWithinTheirRoundingOfTheExactSum) {
    // Head sizes padded to 1, 2, 3 and 5 blocks (17, 40, 72, 129-160 values); lengths one, odd,
    // around the 64-position tile and several tiles.
    const int64_t sizes[] = {32, 64, 96, 160};
    const int64_t lengths[] = {1, 7, 63, 64, 65, 200};
    for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) {
        if (!kernels::isa_supported(isa)) continue;
        SCOPED_TRACE(kernels::isa_name(isa));
        uint32_t seed = 1;
        for (int64_t n : sizes)
            for (int64_t len : lengths)
                for (int nc : {1, 2, 3, 4, 5, 8}) {
                    SCOPED_TRACE(testing::Message() << "n " << n << " len " << len << " nc " << nc);
                    check(isa, {n, len, nc}, seed++);
                }
    }
}

}  // namespace
}  // namespace sluice
