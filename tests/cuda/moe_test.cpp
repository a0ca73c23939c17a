// MoE routing and the fused decode MoE against the CPU (model/blocks.h route_top_k, and a
// double-precision SwiGLU of the dequantised expert weights).
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/gpu_test_support.h"
#include "cuda/kernels.h"
#include "cuda/moe_test_experts.h"
#include "model/blocks.h"
#include "quant/test_rows.h"

namespace sluice {
namespace {

// Ids must be equal. Weights: the device sums E exponentials in float (the CPU in double) and
// divides once more when renormalising: relative ≤ (E/32 + 5 + 8)·2^-24 (lanes, then the warp).
TEST(CudaMoe, RouteTopKMatchesTheCpu) {
    SLUICE_REQUIRE_GPU();
    const int64_t n = 7, E = 128, K = 8;
    std::vector<float> logits = test::uniform_values(size_t(n * E), 5, -4.0f, 4.0f);
    // Token 6: exact ties everywhere, so the lower ids must win.
    for (int64_t e = 0; e < E; ++e) logits[size_t(6 * E + e)] = float(e % 3);
    auto dlogits = test::to_device(logits);
    for (bool normalize : {true, false}) {
        MoeRouting routing;
        routing.n_used = K;
        routing.normalize = normalize;
        std::vector<int32_t> ids(size_t(n * K));
        std::vector<float> weights(size_t(n * K));
        route_top_k(logits.data(), n, E, routing, ids.data(), weights.data());
        cuda::DeviceBuffer<int32_t> dids(ids.size());
        cuda::DeviceBuffer<float> dweights(weights.size());
        cuda::route_top_k(dlogits.get(), n, E, K, normalize, dids.get(), dweights.get(), nullptr);
        EXPECT_EQ(dids.download(), ids) << "normalize " << normalize;
        const auto w = dweights.download();
        for (size_t i = 0; i < w.size(); ++i)
            ASSERT_NEAR(w[i], weights[i], (double(E) / 32 + 13) * test::kFloatEps * weights[i]) << i;
    }
    EXPECT_THROW(cuda::route_top_k(nullptr, 1, E, E + 1, true, nullptr, nullptr, nullptr), Error);
}

// Decode MoE. Per expert: g, u from float matvecs (one or four warps a row) within
// (H/32 + 7)·2^-24·Σ|w·x| (see matvec_test), h = silu(g)·u moves by ≤ 1.1·|u|·Δg + |silu(g)|·Δu + 8·2^-24·|h| (silu' ≤ 1.1),
// and the down row adds its own matvec bound plus Σ|w_down|·Δh; the k weighted outputs add up in
// float (k + 1 more roundings). The test computes this bound from the data.
TEST(CudaMoe, FusedDecodeMatchesTheReference) {
    SLUICE_REQUIRE_GPU();
    const int64_t E = 6, I = 768, K = 3;
    for (int64_t H : {512, 1024}) {  // gate/up rows of 64 units: one warp each; of 128: four warps
        SCOPED_TRACE("H " + std::to_string(H));
        for (auto [gu_type, down_type] : {std::pair{GgmlType::Q4_K, GgmlType::Q6_K}, std::pair{GgmlType::Q8_0, GgmlType::F16},
                                          std::pair{GgmlType::IQ4_XS, GgmlType::Q5_0}, std::pair{GgmlType::IQ2_XXS, GgmlType::IQ3_XXS},
                                          std::pair{GgmlType::IQ1_M, GgmlType::IQ2_S}}) {
            SCOPED_TRACE(std::string(type_name(gu_type)) + " / " + type_name(down_type));
            const test::TestExperts ex = test::test_experts(gu_type, down_type, E, I, H);
            const std::vector<int32_t> ids = {4, 0, 5};
            const std::vector<float> weights = {0.5f, 0.3f, 0.2f};
            const auto x = test::uniform_values(size_t(H), 8);
            const auto out0 = test::uniform_values(size_t(H), 9);  // out accumulates onto what is there

            std::vector<double> ref(out0.begin(), out0.end()), bound(size_t(H), 0.0);
            for (int64_t j = 0; j < K; ++j) {
                const test::QuantMatrix &G = ex.gate[size_t(ids[size_t(j)])], &U = ex.up[size_t(ids[size_t(j)])], &D = ex.down[size_t(ids[size_t(j)])];
                std::vector<double> h(static_cast<size_t>(I)), dh(static_cast<size_t>(I));
                for (int64_t r = 0; r < I; ++r) {
                    double g = 0, u = 0, mg = 0, mu = 0;
                    for (int64_t i = 0; i < H; ++i) {
                        g += double(G.values[size_t(r * H + i)]) * x[size_t(i)];
                        u += double(U.values[size_t(r * H + i)]) * x[size_t(i)];
                        mg += std::fabs(double(G.values[size_t(r * H + i)]) * x[size_t(i)]);
                        mu += std::fabs(double(U.values[size_t(r * H + i)]) * x[size_t(i)]);
                    }
                    const double eps = (double(H) / 32 + 7) * test::kFloatEps, silu_g = g / (1 + std::exp(-g));
                    h[size_t(r)] = silu_g * u;
                    dh[size_t(r)] = 1.1 * std::fabs(u) * eps * mg + std::fabs(silu_g) * eps * mu +
                                    8 * test::kFloatEps * std::fabs(h[size_t(r)]);
                }
                for (int64_t r = 0; r < H; ++r) {
                    double y = 0, my = 0, spread = 0;
                    for (int64_t i = 0; i < I; ++i) {
                        const double w = D.values[size_t(r * I + i)];
                        y += w * h[size_t(i)];
                        my += std::fabs(w * h[size_t(i)]);
                        spread += std::fabs(w) * dh[size_t(i)];
                    }
                    ref[size_t(r)] += weights[size_t(j)] * y;
                    bound[size_t(r)] += weights[size_t(j)] * ((double(I) / 32 + 7) * test::kFloatEps * my + spread) +
                                        double(K + 1) * test::kFloatEps * (std::fabs(ref[size_t(r)]) + my);
                }
            }
            auto dids = test::to_device(ids);
            auto dweights = test::to_device(weights);
            auto dx = test::to_device(x), dout = test::to_device(out0);
            cuda::DeviceBuffer<float> scratch(size_t(K * I));
            const cuda::MoeExpertTable table = ex.table(gu_type, down_type, H, I);
            cuda::moe_decode(table, dids.get(), dweights.get(), K, dx.get(), dout.get(), scratch.get(), nullptr);
            const auto out = dout.download();
            for (int64_t r = 0; r < H; ++r) ASSERT_NEAR(out[size_t(r)], ref[size_t(r)], bound[size_t(r)]) << "row " << r;
        }
    }
}

TEST(CudaMoe, TooManyExpertsPerTokenIsAnError) {
    const cuda::MoeExpertTable table{nullptr, nullptr, nullptr, GgmlType::Q8_0, GgmlType::Q8_0, 64, 64};
    EXPECT_THROW(cuda::moe_decode(table, nullptr, nullptr, cuda::kMaxDecodeExperts + 1, nullptr, nullptr, nullptr, nullptr),
                 Error);
}

}  // namespace
}  // namespace sluice
