// Gated DeltaNet against the CPU's deltanet_forward (kernels/deltanet.h, its token-by-token
// Recurrent path) over consecutive calls of 1, 3, 7 and 64 tokens on one state, in both v-head
// orders and both forms of A; and the state it leaves.
//
// Tolerance. Per token each state entry takes one decay multiply and one rank-1 update from
// float sums of dk products (m = Sᵀk, o = Sᵀq), each within dk·2^-24 of its magnitude; errors
// carry to later tokens damped by decay ≤ 1, so after T tokens in all
//     |gpu − cpu| ≤ T·(2·dk + 16)·2^-24·(1 + max|cpu|)
// (the 16 covers the conv's Kc products, expf/log1pf in the gates and the L2 norms).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cuda/gpu_test_support.h"
#include "cuda/kernels.h"
#include "kernels/deltanet.h"

namespace sluice {
namespace {

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, double(std::fabs(x)));
    return m;
}

void check_deltanet(const DeltaNetDims& d, DecayForm form) {
    const int64_t cd = d.conv_dim(), nv = d.n_v_heads;
    const auto conv_w = test::uniform_values(size_t(cd * d.conv_kernel), 1, -0.5f, 0.5f);
    const auto A_log = test::uniform_values(size_t(nv), 2, -1.0f, 1.0f);
    std::vector<float> A = A_log;
    if (form == DecayForm::NegExp)
        for (auto& x : A) x = -std::exp(x);
    const auto dt_bias = test::uniform_values(size_t(nv), 3);

    DeltaNetState cpu(d);
    const DeltaNetWeights w{conv_w.data(), A.data(), form, dt_bias.data()};
    const cuda::DeltaNetShape shape{d.n_k_heads, d.n_v_heads, d.k_dim, d.v_dim, d.conv_kernel, d.tiled_v_heads};
    auto dconv_w = test::to_device(conv_w), dA = test::to_device(A), ddt = test::to_device(dt_bias);
    const cuda::DeltaNetDeviceWeights dw{dconv_w.get(), dA.get(), form == DecayForm::ALog, ddt.get()};
    cuda::DeviceBuffer<float> dconv(cpu.conv), drec(cpu.recurrent);
    const cuda::DeltaNetDeviceState dstate{dconv.get(), drec.get()};

    int64_t done = 0;
    for (int64_t T : {1, 3, 7, 64, 1}) {
        SCOPED_TRACE("after " + std::to_string(done) + " tokens, T " + std::to_string(T));
        const auto mixed = test::uniform_values(size_t(T * cd), uint64_t(done * 5 + 1), -2.0f, 2.0f);
        const auto a = test::uniform_values(size_t(T * nv), uint64_t(done * 5 + 2), -3.0f, 3.0f);
        const auto b = test::uniform_values(size_t(T * nv), uint64_t(done * 5 + 3), -3.0f, 3.0f);
        std::vector<float> ref(size_t(T * d.value_dim()));
        deltanet_forward(d, w, cpu, T, mixed.data(), a.data(), b.data(), ref.data(), ThreadPool::global(),
                         DeltaNetPath::Recurrent);
        auto dmixed = test::to_device(mixed), da = test::to_device(a), db = test::to_device(b);
        cuda::DeviceBuffer<float> dout(ref.size()), scratch(cuda::deltanet_scratch_floats(shape, T));
        cuda::deltanet_forward(shape, dw, dstate, T, dmixed.get(), da.get(), db.get(), dout.get(), scratch.get(),
                               nullptr);
        done += T;
        const auto out = dout.download(), rec = drec.download();
        const double factor = double(done) * (2.0 * d.k_dim + 16) * test::kFloatEps;
        const double out_tol = factor * (1 + max_abs(ref)), state_tol = factor * (1 + max_abs(cpu.recurrent));
        for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], out_tol) << "output " << i;
        for (size_t i = 0; i < rec.size(); ++i) ASSERT_NEAR(rec[i], cpu.recurrent[i], state_tol) << "state " << i;
        ASSERT_EQ(dconv.download(), cpu.conv);  // the last Kc−1 inputs, copied
    }
}

TEST(CudaDeltaNet, MatchesTheCpuAcrossCalls) {
    SLUICE_REQUIRE_GPU();
    DeltaNetDims d;
    d.n_k_heads = 2;
    d.n_v_heads = 6;
    d.k_dim = 44;  // rows of S in 16-row slices per warp: the last slice part-filled
    d.v_dim = 72;  // more than one 32-column tile, not a multiple of it
    d.conv_kernel = 4;
    for (bool tiled : {false, true}) {
        d.tiled_v_heads = tiled;
        check_deltanet(d, DecayForm::ALog);
        check_deltanet(d, DecayForm::NegExp);
    }
    d.k_dim = 128;
    d.v_dim = 128;
    d.conv_kernel = 2;
    check_deltanet(d, DecayForm::NegExp);
}

TEST(CudaDeltaNet, BadShapesAreErrors) {
    const cuda::DeltaNetShape bad_heads{2, 3, 16, 16, 4, false};
    EXPECT_THROW(cuda::deltanet_forward(bad_heads, {}, {}, 1, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr), Error);
    const cuda::DeltaNetShape wide_keys{1, 1, 512, 16, 4, false};
    EXPECT_THROW(cuda::deltanet_forward(wide_keys, {}, {}, 1, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr), Error);
    const cuda::DeltaNetShape long_conv{1, 1, 16, 16, 9, false};
    EXPECT_THROW(cuda::deltanet_forward(long_conv, {}, {}, 1, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace sluice
