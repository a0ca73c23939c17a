// The int8 tensor-core prefill products (mmq.cu) against the portable CPU dot of the same
// quantised operands. The kernel's integer sums are exact, each block's sums are scaled by the
// CPU's formula (q8_arith.h, itself checked against the CPU on the host by
// tests/kernels/cuda_q8_arith_test.cpp), and one thread adds an output's blocks in order from 0,
// as the portable kernel does: so the bound is 0, every output equal bit for bit.
// Sizes: row counts around the 64-row tiles, token counts around the 32-token tiles, Q8_0 rows
// that end inside a 256-value step.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cuda/gpu_test_support.h"
#include "cuda/kernels.h"
#include "cuda/q8_arith.h"
#include "mmq_operands.h"
#include "quant/test_rows.h"

namespace sluice {
namespace {

const GgmlType kTypes[] = {GgmlType::Q4_K,   GgmlType::Q5_K,    GgmlType::Q6_K,  GgmlType::Q8_0,  GgmlType::IQ2_XXS,
                           GgmlType::IQ2_XS, GgmlType::IQ3_XXS, GgmlType::IQ2_S, GgmlType::IQ3_S};

TEST(CudaMmq, DenseProductIsThePortableDotBitForBit) {
    SLUICE_REQUIRE_GPU();
    for (GgmlType type : kTypes) {
        const std::vector<int64_t> lengths =
            type == GgmlType::Q8_0 ? std::vector<int64_t>{32, 288, 800} : std::vector<int64_t>{256, 768};
        for (int64_t cols : lengths)
            for (int64_t rows : {1, 70, 130})
                for (int64_t n : {1, 5, 33, 70}) {
                    SCOPED_TRACE(std::string(type_name(type)) + " " + std::to_string(rows) + " x " + std::to_string(cols) +
                                 ", " + std::to_string(n) + " tokens");
                    const auto w = test::mmq_weight_bytes(type, rows, cols, uint64_t(rows * 7 + cols));
                    const auto x = test::quant_test_row(n * cols, uint64_t(n + cols));
                    const test::MmqActivations a = test::mmq_activations(type, x, n, cols);
                    auto dw = test::to_device(w);
                    auto dx = test::to_device(a.gpu);
                    cuda::DeviceBuffer<float> dy(size_t(n * rows));
                    cuda::mmq(type, nullptr, dw.get(), nullptr, 0, n, rows, cols, dx.get(), dy.get(), nullptr);
                    const std::vector<float> y = dy.download();
                    // One group: every token with the one weight.
                    test::expect_grouped_outputs(type, y, n, rows, cols, {w.data()}, {0}, {n}, a);
                }
    }
}

// Three weights (experts) over one gathered activation matrix: groups of 1, 40 and 33 tokens
// (tiles of 32 and a remainder); token rows 1..5 and 79 in no group (left as they were).
TEST(CudaMmq, GroupedProductGivesEachGroupItsWeight) {
    SLUICE_REQUIRE_GPU();
    for (GgmlType type : kTypes) {
        SCOPED_TRACE(type_name(type));
        const int64_t rows = 100, cols = 512, n = 80;
        std::vector<std::vector<uint8_t>> w;
        std::vector<cuda::DeviceBuffer<uint8_t>> dw;
        std::vector<const void*> ptrs;
        for (int e = 0; e < 3; ++e) {
            w.push_back(test::mmq_weight_bytes(type, rows, cols, uint64_t(e + 1)));
            dw.emplace_back(w.back());
            ptrs.push_back(dw.back().get());
        }
        const std::vector<int32_t> weight = {2, 0, 1};
        const std::vector<int64_t> first = {0, 6, 46}, count = {1, 40, 33};
        const std::vector<cuda::MmqTile> tiles = cuda::mmq_tiles(weight, first, count);
        ASSERT_EQ(tiles.size(), 1u + 2u + 2u);
        const auto x = test::quant_test_row(n * cols, 77);
        const test::MmqActivations a = test::mmq_activations(type, x, n, cols);
        auto dptrs = test::to_device(ptrs);
        auto dtiles = cuda::DeviceBuffer<cuda::MmqTile>(tiles);
        auto dx = test::to_device(a.gpu);
        const std::vector<float> sentinel(size_t(n * rows), -7.0f);
        auto dy = test::to_device(sentinel);
        cuda::mmq(type, dptrs.get(), nullptr, dtiles.get(), int64_t(tiles.size()), 0, rows, cols, dx.get(), dy.get(), nullptr);
        const std::vector<float> y = dy.download();
        std::vector<const uint8_t*> group_weight;
        for (int32_t e : weight) group_weight.push_back(w[size_t(e)].data());
        test::expect_grouped_outputs(type, y, n, rows, cols, group_weight, first, count, a);
    }
}

TEST(CudaMmq, TypesWithoutAKernelAndTilesWithoutWeightsAreRefused) {
    try {
        cuda::mmq(GgmlType::IQ4_XS, nullptr, nullptr, nullptr, 0, 4, 8, 256, nullptr, nullptr, nullptr);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "mmq: no CUDA kernel for type iq4_xs");
    }
    // IQ1_S and IQ1_M have 8-bit decode kernels but no tensor-core prefill (their deltas need
    // sums of 8 activations): cuBLAS takes it.
    EXPECT_TRUE(cuda::has_q8_kernel(GgmlType::IQ1_M));
    EXPECT_FALSE(cuda::has_mmq_kernel(GgmlType::IQ1_M));
    EXPECT_TRUE(cuda::has_mmq_kernel(GgmlType::IQ3_XXS));
    try {
        cuda::mmq(GgmlType::IQ1_S, nullptr, nullptr, nullptr, 0, 4, 8, 256, nullptr, nullptr, nullptr);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "mmq: no CUDA kernel for type iq1_s");
    }
    const cuda::MmqTile tile{0, 0, 1};
    try {
        cuda::mmq(GgmlType::Q4_K, nullptr, nullptr, &tile, 1, 0, 8, 256, nullptr, nullptr, nullptr);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "mmq: tiles given without their weights");
    }
}

}  // namespace
}  // namespace sluice
