// Norms, RoPE and the element-wise kernels against the CPU's model/blocks.h and
// kernels/deltanet.h functions, at widths that are not multiples of the thread blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cuda/gpu_test_support.h"
#include "cuda/kernels.h"
#include "kernels/deltanet.h"
#include "model/blocks.h"

namespace sluice {
namespace {

// Row norms: the device sums width squares in float (threads, then a block tree), the CPU in
// double; a float sum of w terms is within w·2^-24 relative, which the rsqrt halves, plus a few
// roundings for the division, square root and the products:
//     |gpu − cpu| ≤ (width/2 + 8)·2^-24·|cpu|   (+ a few ulps of silu for the gated form).
TEST(CudaNorm, RmsNormMatchesTheCpu) {
    SLUICE_REQUIRE_GPU();
    for (int64_t width : {1, 7, 300, 2048, 5000}) {
        const int64_t rows = 5;
        const auto x = test::uniform_values(size_t(rows * width), uint64_t(width), -3.0f, 3.0f);
        const auto w = test::uniform_values(size_t(width), 99, 0.5f, 1.5f);
        for (bool with_weight : {true, false}) {
            SCOPED_TRACE("width " + std::to_string(width) + (with_weight ? " weighted" : ""));
            std::vector<float> ref(x.size());
            rms_norm(x.data(), with_weight ? w.data() : nullptr, ref.data(), rows, width, 1e-6f);
            auto dx = test::to_device(x);
            auto dw = test::to_device(w);
            cuda::rms_norm(dx.get(), with_weight ? dw.get() : nullptr, dx.get(), rows, width, 1e-6f, nullptr);  // in place
            const auto y = dx.download();
            const double factor = (double(width) / 2 + 8) * test::kFloatEps;
            for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], factor * std::fabs(ref[i])) << i;
        }
    }
}

// The residual add and the norm after it in one launch (decode): h and y must be add_inplace's
// and rms_norm's bit for bit, at widths of one warp (1, 7), several (300, 2048: the 30B's hidden)
// and more values than threads (5000: 1024 threads), with and without the weight.
TEST(CudaNorm, AddRmsNormIsTheUnfusedSequenceBitForBit) {
    SLUICE_REQUIRE_GPU();
    for (int64_t width : {1, 7, 300, 2048, 5000}) {
        const int64_t rows = 3;
        const auto h = test::uniform_values(size_t(rows * width), uint64_t(width) + 1, -3.0f, 3.0f);
        const auto a = test::uniform_values(size_t(rows * width), uint64_t(width) + 2, -3.0f, 3.0f);
        const auto w = test::uniform_values(size_t(width), 98, 0.5f, 1.5f);
        auto da = test::to_device(a), dw = test::to_device(w);
        for (bool with_weight : {true, false}) {
            SCOPED_TRACE("width " + std::to_string(width) + (with_weight ? " weighted" : ""));
            const float* weight = with_weight ? dw.get() : nullptr;
            auto fused_h = test::to_device(h), unfused_h = test::to_device(h);
            cuda::DeviceBuffer<float> fused_y(h.size()), unfused_y(h.size());
            cuda::add_rms_norm(fused_h.get(), da.get(), weight, fused_y.get(), rows, width, 1e-6f, nullptr);
            cuda::add_inplace(unfused_h.get(), da.get(), rows * width, nullptr);
            cuda::rms_norm(unfused_h.get(), weight, unfused_y.get(), rows, width, 1e-6f, nullptr);
            const auto fh = fused_h.download(), uh = unfused_h.download(), fy = fused_y.download(), uy = unfused_y.download();
            for (size_t i = 0; i < fh.size(); ++i) {
                ASSERT_EQ(std::memcmp(&fh[i], &uh[i], 4), 0) << "h " << i << ": " << fh[i] << " vs " << uh[i];
                ASSERT_EQ(std::memcmp(&fy[i], &uy[i], 4), 0) << "y " << i << ": " << fy[i] << " vs " << uy[i];
            }
        }
    }
    EXPECT_THROW(cuda::add_rms_norm(nullptr, nullptr, nullptr, nullptr, 1, 0, 1e-6f, nullptr), Error);
}

TEST(CudaNorm, GatedRmsNormMatchesTheCpu) {
    SLUICE_REQUIRE_GPU();
    const int64_t rows = 6, dim = 129;  // rows = tokens·heads
    const auto x = test::uniform_values(size_t(rows * dim), 1, -2.0f, 2.0f);
    const auto z = test::uniform_values(size_t(rows * dim), 2, -4.0f, 4.0f);
    const auto w = test::uniform_values(size_t(dim), 3, 0.5f, 1.5f);
    std::vector<float> ref(x.size());
    gated_rms_norm(x.data(), z.data(), w.data(), rows, int(dim), 1e-6f, ref.data());
    auto dx = test::to_device(x), dz = test::to_device(z), dw = test::to_device(w);
    cuda::DeviceBuffer<float> dout(x.size());
    cuda::gated_rms_norm(dx.get(), dz.get(), dw.get(), rows, dim, 1e-6f, dout.get(), nullptr);
    const auto y = dout.download();
    const double factor = (double(dim) / 2 + 16) * test::kFloatEps;  // + expf and the silu division
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], factor * std::fabs(ref[i])) << i;
}

// Both sides rotate in double and round once to float; their pow and sincos may differ in the
// last bits of a double, so results agree to one float rounding of each term:
//     |gpu − cpu| ≤ 2^-23·(|a| + |b|) for the pair (a, b).
TEST(CudaRope, NeoxMatchesTheCpuAtLargePositions) {
    SLUICE_REQUIRE_GPU();
    const int64_t heads = 3, head_dim = 80, rot_dim = 64;
    for (int64_t n : {1, 3, 7}) {
        for (int64_t pos0 : {0, 99997}) {
            const auto x = test::uniform_values(size_t(n * heads * head_dim), uint64_t(n + pos0));
            std::vector<float> ref = x;
            rope_neox(ref.data(), n, heads, head_dim, rot_dim, pos0, 1e6f);
            auto dx = test::to_device(x);
            cuda::rope_neox(dx.get(), n, heads, head_dim, rot_dim, pos0, 1e6f, nullptr);
            const auto y = dx.download();
            for (int64_t r = 0; r < n * heads; ++r)
                for (int64_t i = 0; i < head_dim; ++i) {
                    const size_t k = size_t(r * head_dim + i);
                    const size_t pair = i < rot_dim ? size_t(r * head_dim + (i + rot_dim / 2) % rot_dim) : k;
                    const double bound = i < rot_dim ? 2.0 * test::kFloatEps * (std::fabs(x[k]) + std::fabs(x[pair])) : 0.0;
                    ASSERT_NEAR(y[k], ref[k], bound) << "n " << n << " pos0 " << pos0 << " value " << k;
                }
        }
    }
    EXPECT_THROW(cuda::rope_neox(nullptr, 1, 1, 8, 9, 0, 1e4f, nullptr), Error);
}

TEST(CudaRope, MoreHeadsThanAGridDimensionIsAnError) {
    EXPECT_THROW(cuda::rope_neox(nullptr, 1, 65536, 8, 8, 0, 1e4f, nullptr), Error);
}

// silu and sigmoid: device expf is within 2 ulps, then one add and one division:
//     |gpu − cpu| ≤ 8·2^-24·|cpu|.
TEST(CudaElementwise, SiluMulSigmoidGateAddAndGather) {
    SLUICE_REQUIRE_GPU();
    const int64_t rows = 3, width = 1001;
    const auto g = test::uniform_values(size_t(rows * width), 1, -8.0f, 8.0f);
    const auto u = test::uniform_values(size_t(rows * width), 2);
    const double rel = 8 * test::kFloatEps;

    auto dg = test::to_device(g), du = test::to_device(u);
    cuda::DeviceBuffer<float> dout(g.size());
    cuda::silu_mul(dg.get(), du.get(), dout.get(), rows * width, nullptr);
    auto y = dout.download();
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], silu(g[i]) * u[i], rel * std::fabs(silu(g[i]) * u[i])) << i;

    for (int64_t gate_width : {int64_t(1), int64_t(7), width}) {  // a scalar, a per-group and an element-wise gate
        const auto gate = test::uniform_values(size_t(rows * gate_width), uint64_t(gate_width), -6.0f, 6.0f);
        auto dx = test::to_device(u), dgate = test::to_device(gate);
        cuda::sigmoid_gate_mul(dx.get(), dgate.get(), rows, width, gate_width, nullptr);
        y = dx.download();
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < width; ++j) {
                const size_t i = size_t(r * width + j);
                const float want = u[i] * sigmoid(gate[size_t(r * gate_width + j / (width / gate_width))]);
                ASSERT_NEAR(y[i], want, rel * std::fabs(want)) << "gate width " << gate_width << " value " << i;
            }
    }
    EXPECT_THROW(cuda::sigmoid_gate_mul(nullptr, nullptr, rows, width, 2, nullptr), Error);

    auto dy = test::to_device(g);
    cuda::add_inplace(dy.get(), du.get(), rows * width, nullptr);
    y = dy.download();
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], g[i] + u[i]) << i;  // one float addition: exact match

    const std::vector<int32_t> map = {5, 0, 1000, 5, 17};
    auto dmap = test::to_device(map);
    cuda::DeviceBuffer<float> dgathered(size_t(rows) * map.size());
    cuda::gather_columns(dg.get(), rows, width, dmap.get(), int64_t(map.size()), dgathered.get(), nullptr);
    y = dgathered.download();
    for (int64_t r = 0; r < rows; ++r)
        for (size_t j = 0; j < map.size(); ++j) ASSERT_EQ(y[size_t(r) * map.size() + j], g[size_t(r * width + map[j])]);
}

// The fused shared-expert gate and residual add: bit for bit the unfused launches it replaces
// (sigmoid_gate_mul of a copy, then add_inplace), which the test above bounds against the CPU.
TEST(CudaElementwise, AddSigmoidGatedIsTheUnfusedSequenceBitForBit) {
    SLUICE_REQUIRE_GPU();
    const int64_t rows = 5, width = 777;
    const auto y0 = test::uniform_values(size_t(rows * width), 11);
    const auto x = test::uniform_values(size_t(rows * width), 12);
    const auto gate = test::uniform_values(size_t(rows), 13, -6.0f, 6.0f);
    auto dx = test::to_device(x), dgate = test::to_device(gate);
    auto fused = test::to_device(y0), unfused = test::to_device(y0), copy = test::to_device(x);
    cuda::add_sigmoid_gated(fused.get(), dx.get(), dgate.get(), rows, width, nullptr);
    cuda::sigmoid_gate_mul(copy.get(), dgate.get(), rows, width, 1, nullptr);
    cuda::add_inplace(unfused.get(), copy.get(), rows * width, nullptr);
    const auto a = fused.download(), b = unfused.download();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(std::memcmp(&a[i], &b[i], 4), 0) << i << ": " << a[i] << " vs " << b[i];
    EXPECT_THROW(cuda::add_sigmoid_gated(nullptr, nullptr, nullptr, 1, 0, nullptr), Error);
}

}  // namespace
}  // namespace sluice
