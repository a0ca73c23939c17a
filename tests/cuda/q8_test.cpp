// The 8-bit-activation kernels (quantize_q8.cu, matvec_q8.cu, moe_q8.cu) against the CPU: their
// arithmetic is q8_arith.h, which tests/kernels/cuda_q8_arith_test.cpp checks against the CPU's
// kernels on the host; here the device must compute the same.
//
// - quantize_activations: bit for bit the CPU's quantisers (Q8_K: the CPU's own; Q8_0: the
//   emulation the CPU test shows equal to the CPU's), at row counts and lengths whose blocks do
//   not fill the last warp.
// - matvec_q8: every unit term is computed as the host computes it (IEEE steps, exact integer
//   sums), so only the order of the U = cols/32 terms' sum differs from the host's in-order sum:
//   the device adds U/(32W) in sequence per thread, 5 warp levels and W − 1 across warps, the
//   host U − 1, so |device − host| ≤ (2U + 12)·2^-24·Σ_u|t_u|.
// - moe_decode_q8: against the double-precision SwiGLU of the dequantised weights with exact
//   activations, as tests/cuda/moe_test.cpp, plus the activations' quantisation: a value moves by
//   at most 0.6·amax_b/127 (Q8_K: half a step of d = amax/127 and the rounding of iscale·x;
//   Q8_0: the same with d rounded to half precision, 2^-11 relative, times |q| ≤ 127: 0.57), so
//   a dot product moves by Σ_i |w_i|·0.6·amax_b(i)/127 more.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "cuda/gpu_test_support.h"
#include "cuda/kernels.h"
#include "cuda/moe_test_experts.h"
#include "cuda/q8_arith.h"
#include "kernels/dot.h"
#include "quant/random_iq_blocks.h"
#include "quant/test_rows.h"

namespace sluice {
namespace {

const GgmlType kQ8Types[] = {GgmlType::Q4_K,    GgmlType::Q5_K,   GgmlType::Q6_K,    GgmlType::Q8_0,
                             GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S,   GgmlType::IQ3_XXS,
                             GgmlType::IQ3_S,   GgmlType::IQ1_S,  GgmlType::IQ1_M};

TEST(CudaQ8, QuantisedActivationsAreTheCpusBitForBit) {
    SLUICE_REQUIRE_GPU();
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q8_0}) {
        const int64_t block = t == GgmlType::Q8_0 ? 32 : 256;
        for (int64_t rows : {1, 3, 7})
            for (int64_t cols : {block, 3 * block, 11 * block}) {
                SCOPED_TRACE(std::string(type_name(t)) + " rows " + std::to_string(rows) + " cols " + std::to_string(cols));
                std::vector<float> x = test::quant_test_row(rows * cols, uint64_t(rows * cols));
                x[1] = -x[0] != 0 ? -x[0] : 1.0f;  // a tie of magnitudes with opposite signs
                auto dx = test::to_device(x);
                const size_t bytes = cuda::q8_activation_bytes(t, rows, cols);
                cuda::DeviceBuffer<uint8_t> dq(bytes);
                cuda::quantize_activations(t, dx.get(), rows, cols, dq.get(), nullptr);
                const std::vector<uint8_t> got = dq.download();
                std::vector<uint8_t> want(bytes);
                if (t == GgmlType::Q8_0) {
                    auto* w = reinterpret_cast<q8::ActQ8_0*>(want.data());
                    for (int64_t b = 0; b < rows * cols / 32; ++b) q8::quantize_block_q8_0(x.data() + 32 * b, w[b]);
                } else {
                    kernels::portable_kernels().quantize_q8_k(x.data(), want.data(), rows * cols);
                }
                ASSERT_EQ(got.size(), want.size());
                EXPECT_EQ(std::memcmp(got.data(), want.data(), bytes), 0);
            }
    }
}

// Weight rows of type t (awkward quantiser test rows; random valid blocks for the IQ grid types
// sluice does not write) and n activation rows quantised on the host.
struct Q8Case {
    std::vector<uint8_t> w;
    std::vector<uint8_t> xq;
};

Q8Case make_case(GgmlType t, int64_t rows, int64_t cols, int64_t n, uint64_t seed) {
    Q8Case c{std::vector<uint8_t>(size_t(rows) * row_bytes(t, cols)), std::vector<uint8_t>(cuda::q8_activation_bytes(t, n, cols))};
    std::mt19937_64 rng(seed);
    if (!can_quantize(t)) test::random_iq_blocks(t, c.w.data(), c.w.size(), rng);
    for (int64_t r = 0; r < rows && can_quantize(t); ++r) {
        const std::vector<float> src = test::quant_test_row(cols, seed * 1000 + uint64_t(r));
        quantize_row_ref(t, src.data(), c.w.data() + size_t(r) * row_bytes(t, cols), cols);
    }
    const std::vector<float> x = test::quant_test_row(n * cols, seed + 17);
    if (t == GgmlType::Q8_0) {
        auto* a = reinterpret_cast<q8::ActQ8_0*>(c.xq.data());
        for (int64_t b = 0; b < n * cols / 32; ++b) q8::quantize_block_q8_0(x.data() + 32 * b, a[b]);
    } else {
        kernels::portable_kernels().quantize_q8_k(x.data(), c.xq.data(), n * cols);
    }
    return c;
}

// The host's in-order sum of a row's unit terms, and Σ|t_u|.
template <GgmlType T>
std::pair<float, double> host_row(const uint8_t* row, const uint8_t* xq, int64_t cols) {
    using Unit = q8::Q8Unit<T>;
    const auto* w = reinterpret_cast<const typename Unit::Block*>(row);
    const auto* x = reinterpret_cast<const typename Unit::Act*>(xq);
    float sum = 0.0f;
    double magnitude = 0;
    for (int64_t b = 0; b < cols / Unit::kValues; ++b)
        for (int j = 0; j < Unit::kUnits; ++j) {
            const float t = q8::unit_term<T>(w[b], x[b], j);
            sum += t;
            magnitude += std::fabs(double(t));
        }
    return {sum, magnitude};
}

std::pair<float, double> host_row(GgmlType t, const uint8_t* row, const uint8_t* xq, int64_t cols) {
    switch (t) {
        case GgmlType::Q4_K: return host_row<GgmlType::Q4_K>(row, xq, cols);
        case GgmlType::Q5_K: return host_row<GgmlType::Q5_K>(row, xq, cols);
        case GgmlType::Q6_K: return host_row<GgmlType::Q6_K>(row, xq, cols);
        case GgmlType::IQ2_XXS: return host_row<GgmlType::IQ2_XXS>(row, xq, cols);
        case GgmlType::IQ2_XS: return host_row<GgmlType::IQ2_XS>(row, xq, cols);
        case GgmlType::IQ2_S: return host_row<GgmlType::IQ2_S>(row, xq, cols);
        case GgmlType::IQ3_XXS: return host_row<GgmlType::IQ3_XXS>(row, xq, cols);
        case GgmlType::IQ3_S: return host_row<GgmlType::IQ3_S>(row, xq, cols);
        case GgmlType::IQ1_S: return host_row<GgmlType::IQ1_S>(row, xq, cols);
        case GgmlType::IQ1_M: return host_row<GgmlType::IQ1_M>(row, xq, cols);
        case GgmlType::Q8_0: return host_row<GgmlType::Q8_0>(row, xq, cols);
        default: cuda::throw_error(std::string("host_row: no unit for ") + type_name(t));
    }
}

// Row counts: not a multiple of the 4-row blocks, and one past matvec's many-rows threshold (one
// warp a row there); lengths of 1, 3 and 11 blocks (Q8_0: units below, at and above a warp's 32).
TEST(CudaQ8, MatvecMatchesTheHostsUnitTerms) {
    SLUICE_REQUIRE_GPU();
    for (GgmlType t : kQ8Types) {
        const int64_t block = type_info(t).block_size;
        for (int64_t rows : {int64_t(37), int64_t(16389)})
            for (int64_t cols : {block, 3 * block, 11 * block})
                for (int64_t n : {1, 3, 8}) {
                    if (rows > 1000 && (cols > block || n > 1)) continue;  // the large case once, to keep it quick
                    SCOPED_TRACE(std::string(type_name(t)) + " rows " + std::to_string(rows) + " cols " +
                                 std::to_string(cols) + " n " + std::to_string(n));
                    const Q8Case c = make_case(t, rows, cols, n, uint64_t(rows + cols + n));
                    auto dw = test::to_device(c.w);
                    auto dxq = test::to_device(c.xq);
                    cuda::DeviceBuffer<float> dy(size_t(n * rows));
                    const cuda::MatvecTarget target{dw.get(), rows, dy.get()};
                    cuda::matvec_q8(t, &target, 1, cols, dxq.get(), n, nullptr);
                    const std::vector<float> y = dy.download();
                    const size_t stride = row_bytes(t, cols), xstride = cuda::q8_activation_bytes(t, 1, cols);
                    const double units = double(cols / 32);
                    for (int64_t j = 0; j < n; ++j)
                        for (int64_t r = 0; r < rows; ++r) {
                            const auto [want, magnitude] = host_row(t, c.w.data() + size_t(r) * stride, c.xq.data() + size_t(j) * xstride, cols);
                            ASSERT_NEAR(y[size_t(j * rows + r)], want, (2 * units + 12) * test::kFloatEps * magnitude)
                                << "row " << r << " activation row " << j;
                        }
                }
    }
}

// Up to four weights sharing the activations in one launch (decode's q, k and v).
TEST(CudaQ8, SharedMatvecFillsEachTarget) {
    SLUICE_REQUIRE_GPU();
    const GgmlType t = GgmlType::Q4_K;
    const int64_t cols = 512, n = 2;
    const int64_t rows[3] = {64, 8, 13};
    std::vector<Q8Case> cases;
    std::vector<cuda::DeviceBuffer<uint8_t>> dw;
    std::vector<cuda::DeviceBuffer<float>> dy;
    cuda::MatvecTarget targets[3];
    for (int i = 0; i < 3; ++i) {
        cases.push_back(make_case(t, rows[i], cols, n, 99));  // the same seed: the same activations
        dw.emplace_back(cases.back().w);
        dy.emplace_back(size_t(n * rows[i]));
        targets[i] = {dw.back().get(), rows[i], dy.back().get()};
    }
    auto dxq = test::to_device(cases[0].xq);
    cuda::matvec_q8(t, targets, 3, cols, dxq.get(), n, nullptr);
    const size_t stride = row_bytes(t, cols), xstride = cuda::q8_activation_bytes(t, 1, cols);
    for (int i = 0; i < 3; ++i) {
        const std::vector<float> y = dy[size_t(i)].download();
        for (int64_t j = 0; j < n; ++j)
            for (int64_t r = 0; r < rows[i]; ++r) {
                const auto [want, magnitude] = host_row(t, cases[size_t(i)].w.data() + size_t(r) * stride,
                                                        cases[0].xq.data() + size_t(j) * xstride, cols);
                ASSERT_NEAR(y[size_t(j * rows[i] + r)], want, (2.0 * cols / 32 + 12) * test::kFloatEps * magnitude)
                    << "target " << i << " row " << r;
            }
    }
}

TEST(CudaQ8, TypesWithoutAnEightBitKernelAreRefused) {
    EXPECT_FALSE(cuda::has_q8_kernel(GgmlType::IQ4_XS));
    EXPECT_TRUE(cuda::has_q8_kernel(GgmlType::Q6_K));
    EXPECT_TRUE(cuda::has_q8_kernel(GgmlType::IQ1_M));
    EXPECT_FALSE(cuda::has_q8_kernel(GgmlType::MXFP4));
    try {
        cuda::quantize_activations(GgmlType::F16, nullptr, 1, 256, nullptr, nullptr);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "quantize_activations: no CUDA kernel for type f16");
    }
    try {
        cuda::quantize_activations(GgmlType::Q4_K, nullptr, 1, 100, nullptr, nullptr);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "quantize_activations: rows of 100 values are not whole blocks of 256");
    }
}

// Largest |x| of each block of `block` values, per value.
std::vector<double> block_amax(const std::vector<double>& x, int64_t block) {
    std::vector<double> out(x.size());
    for (size_t b = 0; b < x.size(); b += size_t(block)) {
        double m = 0;
        for (size_t i = b; i < b + size_t(block); ++i) m = std::max(m, std::fabs(x[i]));
        for (size_t i = b; i < b + size_t(block); ++i) out[i] = m;
    }
    return out;
}

TEST(CudaQ8, MoeDecodeMatchesTheReference) {
    SLUICE_REQUIRE_GPU();
    const int64_t E = 6, I = 768, K = 3;
    for (int64_t H : {512, 2048, 4096}) {  // Q4_K/Q5_K gate/up rows of 16, 64, 128 units: 1, 2, 4 warps a row
        SCOPED_TRACE("H " + std::to_string(H));
        for (auto [gu_type, down_type] : {std::pair{GgmlType::Q4_K, GgmlType::Q6_K}, std::pair{GgmlType::Q5_K, GgmlType::Q8_0},
                                          std::pair{GgmlType::Q8_0, GgmlType::Q4_K}, std::pair{GgmlType::IQ2_XXS, GgmlType::IQ3_XXS},
                                          std::pair{GgmlType::IQ1_M, GgmlType::IQ2_XS}}) {
            SCOPED_TRACE(std::string(type_name(gu_type)) + " / " + type_name(down_type));
            const test::TestExperts ex = test::test_experts(gu_type, down_type, E, I, H);
            const std::vector<int32_t> ids = {4, 0, 5};
            const std::vector<float> weights = {0.5f, 0.3f, 0.2f};
            const auto x = test::uniform_values(size_t(H), 8);
            const auto out0 = test::uniform_values(size_t(H), 9);
            const int64_t x_block = gu_type == GgmlType::Q8_0 ? 32 : 256, h_block = down_type == GgmlType::Q8_0 ? 32 : 256;
            const std::vector<double> x_amax = block_amax(std::vector<double>(x.begin(), x.end()), x_block);

            std::vector<double> ref(out0.begin(), out0.end()), bound(size_t(H), 0.0);
            for (int64_t j = 0; j < K; ++j) {
                const test::QuantMatrix &G = ex.gate[size_t(ids[size_t(j)])], &U = ex.up[size_t(ids[size_t(j)])], &D = ex.down[size_t(ids[size_t(j)])];
                std::vector<double> h(static_cast<size_t>(I)), dh(static_cast<size_t>(I));
                for (int64_t r = 0; r < I; ++r) {
                    double g = 0, u = 0, mg = 0, mu = 0, qg = 0, qu = 0;
                    for (int64_t i = 0; i < H; ++i) {
                        const double gw = G.values[size_t(r * H + i)], uw = U.values[size_t(r * H + i)];
                        g += gw * x[size_t(i)];
                        u += uw * x[size_t(i)];
                        mg += std::fabs(gw * x[size_t(i)]);
                        mu += std::fabs(uw * x[size_t(i)]);
                        qg += std::fabs(gw) * 0.6 * x_amax[size_t(i)] / 127;
                        qu += std::fabs(uw) * 0.6 * x_amax[size_t(i)] / 127;
                    }
                    // Float part: the unit terms' scaling (4 roundings) and their sum (2U + 12), on
                    // magnitudes within a quantisation step of the exact ones.
                    const double eps = (2.0 * H / 32 + 16) * test::kFloatEps, silu_g = g / (1 + std::exp(-g));
                    const double dg = eps * (mg + qg) + qg, du = eps * (mu + qu) + qu;
                    h[size_t(r)] = silu_g * u;
                    dh[size_t(r)] = 1.1 * std::fabs(u) * dg + std::fabs(silu_g) * du + 1.1 * dg * du +
                                    8 * test::kFloatEps * std::fabs(h[size_t(r)]);
                }
                // h's own quantisation: blocks of the down type's activation format, amax bounded
                // by the exact h plus its error.
                std::vector<double> h_hi(static_cast<size_t>(I));
                for (int64_t i = 0; i < I; ++i) h_hi[size_t(i)] = std::fabs(h[size_t(i)]) + dh[size_t(i)];
                const std::vector<double> h_amax = block_amax(h_hi, h_block);
                for (int64_t r = 0; r < H; ++r) {
                    double y = 0, my = 0, spread = 0;
                    for (int64_t i = 0; i < I; ++i) {
                        const double w = D.values[size_t(r * I + i)];
                        y += w * h[size_t(i)];
                        my += std::fabs(w) * h_hi[size_t(i)];
                        spread += std::fabs(w) * (dh[size_t(i)] + 0.6 * h_amax[size_t(i)] / 127);
                    }
                    ref[size_t(r)] += weights[size_t(j)] * y;
                    bound[size_t(r)] += weights[size_t(j)] * ((2.0 * I / 32 + 16) * test::kFloatEps * (my + spread) + spread) +
                                        double(K + 1) * test::kFloatEps * (std::fabs(ref[size_t(r)]) + my);
                }
            }
            auto dids = test::to_device(ids);
            auto dweights = test::to_device(weights);
            auto dx = test::to_device(x), dout = test::to_device(out0);
            const cuda::MoeExpertTable table = ex.table(gu_type, down_type, H, I);
            cuda::DeviceBuffer<uint8_t> scratch(cuda::moe_decode_q8_scratch_bytes(table, K));
            cuda::moe_decode_q8(table, dids.get(), dweights.get(), K, dx.get(), nullptr, dout.get(), scratch.get(), nullptr);
            const auto out = dout.download();
            for (int64_t r = 0; r < H; ++r) ASSERT_NEAR(out[size_t(r)], ref[size_t(r)], bound[size_t(r)]) << "row " << r;
            // x quantised by the caller (as the router's product does it): the same outputs, bit for bit.
            cuda::DeviceBuffer<uint8_t> xq(cuda::q8_activation_bytes(gu_type, 1, H));
            cuda::quantize_activations(gu_type, dx.get(), 1, H, xq.get(), nullptr);
            auto dout2 = test::to_device(out0);
            cuda::moe_decode_q8(table, dids.get(), dweights.get(), K, dx.get(), xq.get(), dout2.get(), scratch.get(), nullptr);
            const auto out2 = dout2.download();
            for (int64_t r = 0; r < H; ++r) ASSERT_EQ(out2[size_t(r)], out[size_t(r)]) << "row " << r;
        }
    }
}

}  // namespace
}  // namespace sluice
