// matvec / matmul and the kernel tables against the scalar references, on every instruction
// set this CPU has (portable, AVX2, AVX-512), at sizes that are not multiples of the tiles.
//
// Tolerance. A kernel computes exact integer sums per block (or sub-block) and rounds only the
// per-block float products and the float accumulation; the reference is the double-precision
// dot of the dequantised weights with the dequantised activations the portable quantiser makes.
// With B blocks each float term is rounded a bounded number of times and the longest chain of
// additions is ≤ B + 16 (B per lane, a 16-way reduction), every term bounded by max|w|·|x̂_i|:
//     |kernel − reference| ≤ (B + 16)·2^-24·max|w|·Σ|x̂_i|.
// (For float weights B is the row length.) Q4_1 and Q5_1 multiply their minimum by Q8_1's s,
// the block sum d·Σq stored in half precision, so the reference uses s there too. Fast
// dequantisers and activation quantisers must equal the portable ones bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "error_bound.h"
#include "force_isa.h"
#include "kernels/dot.h"
#include "kernels/dot_kquants_avx512.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "quant/blocks.h"
#include "quant/random_iq_blocks.h"
#include "quant/test_rows.h"
#include "util/half.h"

namespace sluice {
namespace {

using kernels::Isa;

using test::supported_isas;

using test::ForceIsa;

const GgmlType kWeightTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,   GgmlType::Q4_1,
                                 GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K,   GgmlType::Q3_K,
                                 GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS,
                                 GgmlType::MXFP4,
                                 GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S, GgmlType::IQ3_XXS,
                                 GgmlType::IQ3_S, GgmlType::IQ1_S, GgmlType::IQ1_M};

// Row lengths: three super-blocks, seven 32-blocks, or an odd count of floats.
int64_t odd_cols(GgmlType t) {
    const int64_t bs = type_info(t).block_size;
    return bs == 256 ? 768 : bs == 32 ? 224 : 203;
}

std::vector<float> gaussian(size_t n, uint64_t seed, float scale = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = normal(rng);
    return v;
}

struct Matrix {
    std::vector<uint8_t> bytes;
    std::vector<float> dequantized;
    Weight w;
};

Matrix make_matrix(GgmlType t, int64_t rows, int64_t cols, uint64_t seed) {
    Matrix m;
    const std::vector<float> values = test::quant_test_row(rows * cols, seed);
    const size_t rb = row_bytes(t, cols);
    m.bytes.resize(size_t(rows) * rb);
    m.dequantized.resize(values.size());
    std::mt19937_64 rng(seed);
    if (!can_quantize(t)) test::random_iq_blocks(t, m.bytes.data(), m.bytes.size(), rng);
    for (int64_t r = 0; r < rows; ++r) {
        if (can_quantize(t)) quantize_row_ref(t, values.data() + r * cols, m.bytes.data() + size_t(r) * rb, cols);
        dequantize_row_ref(t, m.bytes.data() + size_t(r) * rb, m.dequantized.data() + r * cols, cols);
    }
    m.w = Weight{t, m.bytes.data(), rows, cols};
    return m;
}

// The activations as the kernels see them (quantised by the portable quantiser, dequantised),
// and the expected dot with each weight row.
struct SeenActivations {
    std::vector<float> x;
    std::vector<uint8_t> q;

    SeenActivations(GgmlType weight, const float* src, int64_t cols) : x(src, src + cols) {
        const GgmlType act = kernels::activation_type(weight);
        if (act == GgmlType::F32) return;
        q.resize(row_bytes(act, cols));
        kernels::portable_kernels().quantizer(act)(src, q.data(), cols);
        dequantize_row_ref(act, q.data(), x.data(), cols);
    }

    double dot(const Matrix& m, int64_t r) const {
        const int64_t cols = m.w.cols;
        double sum = 0;
        for (int64_t i = 0; i < cols; ++i) sum += double(m.dequantized[size_t(r * cols + i)]) * x[size_t(i)];
        if (m.w.type == GgmlType::Q4_1 || m.w.type == GgmlType::Q5_1) {
            // The minimum meets s = half(d·Σq) instead of Σ x̂ (m is at the same offset in both types).
            const auto* xb = reinterpret_cast<const BlockQ8_1*>(q.data());
            for (int64_t b = 0; b < cols / 32; ++b) {
                const auto* wb = reinterpret_cast<const BlockQ4_1*>(m.w.row(r) + size_t(b) * type_info(m.w.type).block_bytes);
                double block_sum = 0;
                for (int j = 0; j < 32; ++j) block_sum += x[size_t(32 * b + j)];
                sum += double(f16_to_f32(wb->m)) * (double(f16_to_f32(xb[b].s)) - block_sum);
            }
        }
        return sum;
    }
};

TEST(Matmul, EveryTypeMatchesTheReferenceOnEveryInstructionSet) {
    const int64_t rows = 37;
    for (Isa isa : supported_isas()) {
        ForceIsa force(isa);
        ThreadPool pool(2);
        for (GgmlType t : kWeightTypes) {
            SCOPED_TRACE(std::string(kernels::isa_name(isa)) + " " + type_name(t));
            const int64_t cols = odd_cols(t);
            const Matrix m = make_matrix(t, rows, cols, 17);
            const int64_t blocks = cols / type_info(t).block_size;
            float max_w = 0;
            for (float v : m.dequantized) max_w = std::max(max_w, std::fabs(v));
            for (int64_t n : {1, 2, 3, 5, 9}) {
                const std::vector<float> x = gaussian(size_t(n * cols), uint64_t(n) * 31 + 5);
                std::vector<float> y(size_t(n * rows));
                if (n == 1) matvec(m.w, x.data(), y.data(), pool);
                else matmul(m.w, x.data(), n, y.data(), pool);
                double worst = 0;
                for (int64_t t2 = 0; t2 < n; ++t2) {
                    const SeenActivations xs(t, x.data() + t2 * cols, cols);
                    double sum_abs_x = 0;
                    for (float v : xs.x) sum_abs_x += std::fabs(v);
                    const double tol = double(blocks + 16) * 0x1p-24 * max_w * sum_abs_x;
                    for (int64_t r = 0; r < rows; ++r)
                        worst = test::worse(worst, std::fabs(y[size_t(t2 * rows + r)] - xs.dot(m, r)) / tol);
                }
                EXPECT_LE(worst, 1.0) << "n = " << n;
            }
        }
    }
}

// IQ2_XXS's AVX-512 rows kernel reorders the activations 16 blocks at a time: rows of 16, 17
// and 35 blocks (one chunk, a chunk and one block, two and three) through matvec on two threads,
// the same tolerance and reference as above.
TEST(Matmul, Iq2XxsRowsLongerThanAChunkMatchTheReference) {
    const int64_t rows = 13;
    for (Isa isa : supported_isas()) {
        ForceIsa force(isa);
        ThreadPool pool(2);
        for (int64_t blocks : {16, 17, 35}) {
            SCOPED_TRACE(std::string(kernels::isa_name(isa)) + " " + std::to_string(blocks) + " blocks");
            const int64_t cols = 256 * blocks;
            const Matrix m = make_matrix(GgmlType::IQ2_XXS, rows, cols, 61);
            float max_w = 0;
            for (float v : m.dequantized) max_w = std::max(max_w, std::fabs(v));
            const std::vector<float> x = gaussian(size_t(cols), uint64_t(blocks));
            std::vector<float> y(static_cast<size_t>(rows));
            matvec(m.w, x.data(), y.data(), pool);
            const SeenActivations xs(GgmlType::IQ2_XXS, x.data(), cols);
            double sum_abs_x = 0;
            for (float v : xs.x) sum_abs_x += std::fabs(v);
            const double tol = double(blocks + 16) * 0x1p-24 * max_w * sum_abs_x;
            double worst = 0;
            for (int64_t r = 0; r < rows; ++r) worst = test::worse(worst, std::fabs(y[size_t(r)] - xs.dot(m, r)) / tol);
            EXPECT_LE(worst, 1.0);
        }
    }
}

// Q6_K rows of random bytes (every level 0..63 and scale −128..127 occurs) under a half scale
// between 2^-10 and 2^-4: the extremes of the integer sums, which quantised rows do not reach.
Matrix random_q6_k_matrix(int64_t rows, int64_t cols, uint64_t seed) {
    Matrix m = make_matrix(GgmlType::Q6_K, rows, cols, seed);
    std::mt19937_64 rng(seed);
    for (auto& b : m.bytes) b = uint8_t(rng());
    auto* blocks = reinterpret_cast<BlockQ6_K*>(m.bytes.data());
    for (size_t i = 0; i < m.bytes.size() / sizeof(BlockQ6_K); ++i)
        blocks[i].d = f32_to_f16(std::ldexp(1.0f + float(rng() % 1024) / 1024, -4 - int(rng() % 7)));
    dequantize_row_ref(GgmlType::Q6_K, m.bytes.data(), m.dequantized.data(), rows * cols);
    return m;
}

// Q4_K and Q6_K interleaved eight rows at a time (kernels/repack.h): 37 rows are four groups and
// five ordinary rows; the same tolerance as above, against the same reference.
TEST(Matmul, InterleavedMatchesTheReferenceOnEveryInstructionSet) {
    const int64_t rows = 37, cols = 768;
    const std::pair<const char*, Matrix> cases[] = {{"Q4_K", make_matrix(GgmlType::Q4_K, rows, cols, 19)},
                                                    {"Q6_K", make_matrix(GgmlType::Q6_K, rows, cols, 20)},
                                                    {"Q6_K random blocks", random_q6_k_matrix(rows, cols, 21)}};
    for (const auto& [name, m] : cases) {
        SCOPED_TRACE(name);
        ASSERT_TRUE(kernels::can_repack(m.w));
        std::vector<uint8_t> packed(m.w.bytes());
        const Weight w = kernels::repack(m.w, packed.data());
        EXPECT_NE(packed, m.bytes);
        float max_w = 0;
        for (float v : m.dequantized) max_w = std::max(max_w, std::fabs(v));
        for (Isa isa : supported_isas()) {
            SCOPED_TRACE(kernels::isa_name(isa));
            ForceIsa force(isa);
            ThreadPool pool(2);
            for (int64_t n : {1, 2, 3, 5, 9}) {
                const std::vector<float> x = gaussian(size_t(n * cols), uint64_t(n) * 7 + 3);
                std::vector<float> y(size_t(n * rows));
                matmul(w, x.data(), n, y.data(), pool);
                double worst = 0;
                for (int64_t t = 0; t < n; ++t) {
                    const SeenActivations xs(m.w.type, x.data() + t * cols, cols);
                    double sum_abs_x = 0;
                    for (float v : xs.x) sum_abs_x += std::fabs(v);
                    const double tol = double(cols / 256 + 16) * 0x1p-24 * max_w * sum_abs_x;
                    for (int64_t r = 0; r < rows; ++r)
                        worst = test::worse(worst, std::fabs(y[size_t(t * rows + r)] - xs.dot(m, r)) / tol);
                }
                EXPECT_LE(worst, 1.0) << "n = " << n;
            }
            // Rows read back from the interleaved layout (embedding lookups) are the original rows.
            std::vector<float> row(static_cast<size_t>(cols));
            for (int64_t r = 0; r < rows; ++r) {
                dequantize_row(w, r, row.data());
                ASSERT_EQ(0, std::memcmp(row.data(), m.dequantized.data() + r * cols, cols * sizeof(float))) << "row " << r;
            }
        }
        // In place gives the same bytes.
        std::vector<uint8_t> in_place = m.bytes;
        kernels::repack_in_place(Weight{m.w.type, in_place.data(), rows, cols});
        EXPECT_EQ(in_place, packed);
    }
}

TEST(Matmul, RepackRefusesWhatItCannotInterleave) {
    EXPECT_FALSE(kernels::can_repack(make_matrix(GgmlType::Q4_K, 7, 256, 1).w));   // no whole group
    EXPECT_FALSE(kernels::can_repack(make_matrix(GgmlType::Q5_K, 16, 256, 1).w));  // neither Q4_K nor Q6_K
    Matrix m = make_matrix(GgmlType::Q4_K, 7, 256, 1);
    std::vector<uint8_t> out(m.w.bytes());
    EXPECT_THROW(kernels::repack(m.w, out.data()), std::exception);
}

// Weights that share their input in one pass — of any types, each quantising the input its own
// way — give what separate products give, bit for bit; weights of other widths are refused.
TEST(Matmul, SharedInputEqualsSeparateProducts) {
    const Matrix a = make_matrix(GgmlType::Q4_K, 45, 512, 4), b = make_matrix(GgmlType::Q6_K, 17, 512, 5),
                 c = make_matrix(GgmlType::Q4_K, 64, 512, 6), d = make_matrix(GgmlType::Q8_0, 9, 512, 7);
    std::vector<uint8_t> packed(c.w.bytes());
    const Weight ci = kernels::repack(c.w, packed.data());
    const Weight* ws[] = {&a.w, &b.w, &ci, &d.w};
    ThreadPool pool(2);
    for (int64_t n : {1, 3, 6}) {
        const std::vector<float> x = gaussian(size_t(n * 512), uint64_t(n) + 90);
        std::vector<std::vector<float>> ys;
        std::vector<float*> outs;
        for (const Weight* w : ws) ys.emplace_back(size_t(n * w->rows));
        for (auto& y : ys) outs.push_back(y.data());
        matmul_shared_input(ws, x.data(), n, outs, pool);
        for (size_t i = 0; i < std::size(ws); ++i) {
            std::vector<float> want(ys[i].size());
            matmul(*ws[i], x.data(), n, want.data(), pool);
            EXPECT_EQ(ys[i], want) << "weight " << i << ", n = " << n;
        }
    }
    const Matrix other = make_matrix(GgmlType::Q4_K, 8, 256, 8);
    const Weight* mixed[] = {&a.w, &other.w};
    std::vector<float> y1(45), y2(8);
    float* ys[] = {y1.data(), y2.data()};
    const std::vector<float> x = gaussian(512, 1);
    EXPECT_THROW(matmul_shared_input(mixed, x.data(), 1, ys, pool), std::exception);
}

TEST(Matmul, ThreadCountDoesNotChangeTheResult) {
    const Matrix m = make_matrix(GgmlType::Q4_K, 301, 512, 3);
    const std::vector<float> x = gaussian(7 * 512, 9);
    std::vector<float> one(7 * 301), two(7 * 301);
    ThreadPool p1(1), p2(2);
    matmul(m.w, x.data(), 7, one.data(), p1);
    matmul(m.w, x.data(), 7, two.data(), p2);
    EXPECT_EQ(one, two);
}

TEST(Kernels, FastDequantisersEqualTheReferenceBitForBit) {
    const int64_t n = 256 * 24;
    std::mt19937 rng(5);
    std::mt19937_64 rng64(5);
    for (Isa isa : supported_isas()) {
        const kernels::KernelSet& ks = kernels::kernel_set(isa);
        for (GgmlType t : kWeightTypes) {
            SCOPED_TRACE(std::string(kernels::isa_name(isa)) + " " + type_name(t));
            std::vector<uint8_t> ours(row_bytes(t, n)), noise(row_bytes(t, n));
            const std::vector<float> x = test::quant_test_row(n, 4);
            if (can_quantize(t)) quantize_row_ref(t, x.data(), ours.data(), n);
            else test::random_iq_blocks(t, ours.data(), ours.size(), rng64);
            for (auto& b : noise) b = uint8_t(rng());
            for (const auto* blocks : {&ours, &noise}) {
                std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
                dequantize_row_ref(t, blocks->data(), want.data(), n);
                ks[t].dequantize(blocks->data(), got.data(), n);
                size_t differ = 0;
                for (size_t i = 0; i < want.size(); ++i)
                    differ += !(std::isnan(want[i]) && std::isnan(got[i])) && std::memcmp(&want[i], &got[i], 4) != 0;
                EXPECT_EQ(differ, 0u);
            }
        }
    }
}

TEST(Kernels, ActivationQuantisersEqualThePortableOnesBitForBit) {
    const int64_t n = 256 * 16;
    std::vector<float> x = test::quant_test_row(n, 8);
    for (int64_t i = 0; i < 256; ++i) x[size_t(i)] = 0.0f;                   // an all-zero super-block
    for (int64_t i = 256; i < 512; ++i) x[size_t(i)] = (i % 2 ? 1.0f : -1.0f);  // ties for the signed max
    const kernels::KernelSet& portable = kernels::portable_kernels();
    for (Isa isa : supported_isas()) {
        const kernels::KernelSet& ks = kernels::kernel_set(isa);
        for (GgmlType act : {GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K}) {
            SCOPED_TRACE(std::string(kernels::isa_name(isa)) + " " + type_name(act));
            std::vector<uint8_t> want(row_bytes(act, n)), got(row_bytes(act, n));
            portable.quantizer(act)(x.data(), want.data(), n);
            ks.quantizer(act)(x.data(), got.data(), n);
            EXPECT_EQ(want, got);
        }
    }
}

TEST(Kernels, Q8KActivationsAreTheReferenceQuantiser) {
    const std::vector<float> x = test::quant_test_row(1024, 12);
    std::vector<uint8_t> want(row_bytes(GgmlType::Q8_K, 1024)), got(want.size());
    quantize_row_ref(GgmlType::Q8_K, x.data(), want.data(), 1024);
    kernels::portable_kernels().quantize_q8_k(x.data(), got.data(), 1024);
    EXPECT_EQ(want, got);
}

// The 512-bit K-quant kernels are in the AVX-512 table on Intel only (on AMD the 256-bit ones
// are faster), so they are checked here directly, on any CPU with AVX-512, against the portable
// kernels on the same quantised activations, for every column count.
TEST(Kernels, WideKQuantKernelsEqualThePortableOnes) {
    if (!kernels::isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
    const struct {
        GgmlType type;
        kernels::DotFn wide;
    } cases[] = {{GgmlType::Q4_K, kernels::dot_q4_k_avx512},
                 {GgmlType::Q5_K, kernels::dot_q5_k_avx512},
                 {GgmlType::Q6_K, kernels::dot_q6_k_avx512}};
    const int64_t cols = 768, rows = 9;
    for (const auto& c : cases) {
        SCOPED_TRACE(type_name(c.type));
        const Matrix m = make_matrix(c.type, rows, cols, 23);
        const size_t stride = row_bytes(GgmlType::Q8_K, cols);
        std::vector<uint8_t> xq(kernels::kMaxCols * stride);
        std::vector<float> x_seen(static_cast<size_t>(cols));
        double sum_abs_x = 0;   // the largest over the columns
        for (int col = 0; col < kernels::kMaxCols; ++col) {
            const std::vector<float> x = gaussian(size_t(cols), uint64_t(col) + 41);
            kernels::portable_kernels().quantize_q8_k(x.data(), xq.data() + size_t(col) * stride, cols);
            dequantize_row_ref(GgmlType::Q8_K, xq.data() + size_t(col) * stride, x_seen.data(), cols);
            double s = 0;
            for (float v : x_seen) s += std::fabs(v);
            sum_abs_x = std::max(sum_abs_x, s);
        }
        float max_w = 0;
        for (float v : m.dequantized) max_w = std::max(max_w, std::fabs(v));
        // Both sum exactly in integers within a super-block and round differently across them,
        // as in EveryTypeMatchesTheReferenceOnEveryInstructionSet.
        const double tol = double(cols / 256 + 16) * 0x1p-24 * max_w * sum_abs_x;
        for (int nc = 1; nc <= kernels::kMaxCols; ++nc)
            for (int64_t r = 0; r < rows; ++r) {
                float want[kernels::kMaxCols], got[kernels::kMaxCols];
                kernels::portable_kernels()[c.type].dot(cols, m.w.row(r), xq.data(), stride, nc, want);
                c.wide(cols, m.w.row(r), xq.data(), stride, nc, got);
                for (int col = 0; col < nc; ++col) EXPECT_NEAR(got[col], want[col], tol) << "nc " << nc << " row " << r;
            }
    }
}

// Decode's several-rows kernels give, for every row count, what the one-row kernel of the same
// table gives (the same integer sums per super-block, added in the same order).
TEST(Kernels, RowKernelsEqualTheOneRowKernel) {
    const int64_t cols = 768, rows = 11;
    int checked = 0;
    for (Isa isa : supported_isas()) {
        for (GgmlType t : kWeightTypes) {
            const kernels::TypeKernels& k = kernels::kernel_set(isa)[t];
            if (!k.dot_rows) continue;
            SCOPED_TRACE(std::string(kernels::isa_name(isa)) + " " + type_name(t));
            const Matrix m = make_matrix(t, rows, cols, 29);
            const GgmlType act = kernels::activation_type(t);
            const std::vector<float> x = gaussian(size_t(cols), 43);
            std::vector<uint8_t> xq(row_bytes(act, cols));
            kernels::kernel_set(isa).quantizer(act)(x.data(), xq.data(), cols);
            for (int nr = 1; nr <= kernels::kMaxRows; ++nr)
                for (int64_t r0 = 0; r0 + nr <= rows; r0 += nr) {
                    float got[kernels::kMaxRows];
                    k.dot_rows(cols, m.w.row(r0), m.w.row_stride(), nr, xq.data(), got);
                    for (int r = 0; r < nr; ++r) {
                        float want;
                        k.dot(cols, m.w.row(r0 + r), xq.data(), xq.size(), 1, &want);
                        EXPECT_EQ(got[r], want) << "nr " << nr << " row " << r0 + r;
                    }
                }
            ++checked;
        }
    }
    if (kernels::isa_supported(Isa::Avx2)) {
        EXPECT_GT(checked, 0);
    }
}

TEST(Kernels, DispatchPicksTheBestSupportedSet) {
    EXPECT_TRUE(kernels::isa_supported(Isa::Portable));
    if (kernels::isa_supported(Isa::Avx512) && !std::getenv("SLUICE_ISA")) {
        EXPECT_EQ(kernels::active_kernels().isa, Isa::Avx512);
    }
    EXPECT_EQ(kernels::activation_type(GgmlType::Q4_K), GgmlType::Q8_K);
    EXPECT_EQ(kernels::activation_type(GgmlType::Q5_1), GgmlType::Q8_1);
    EXPECT_EQ(kernels::activation_type(GgmlType::IQ4_NL), GgmlType::Q8_0);
    EXPECT_EQ(kernels::activation_type(GgmlType::MXFP4), GgmlType::Q8_0);
    EXPECT_EQ(kernels::activation_type(GgmlType::BF16), GgmlType::F32);
    EXPECT_EQ(kernels::activation_type(GgmlType::IQ2_XXS), GgmlType::Q8_K);
    EXPECT_EQ(kernels::activation_type(GgmlType::IQ1_M), GgmlType::Q8_K);
    EXPECT_THROW(kernels::active_kernels()[GgmlType::TQ2_0], std::exception);
}

}  // namespace
}  // namespace sluice
