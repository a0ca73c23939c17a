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
#include "kernels/dot.h"
#include "quant/test_rows.h"

namespace sluice {
namespace {

// n activation rows of `cols` values quantised for `type`: the CPU's blocks and the GPU's.
struct Activations {
    std::vector<uint8_t> cpu, gpu;
    size_t cpu_row = 0;  // bytes of one CPU row
};

Activations quantise(GgmlType type, const std::vector<float>& x, int64_t n, int64_t cols) {
    Activations a;
    const auto& k = kernels::portable_kernels();
    if (type == GgmlType::Q8_0) {
        a.cpu_row = size_t(cols / 32) * sizeof(BlockQ8_0);
        a.cpu.resize(size_t(n) * a.cpu_row);
        k.quantize_q8_0(x.data(), a.cpu.data(), n * cols);
        a.gpu.resize(cuda::q8_activation_bytes(type, n, cols));
        auto* g = reinterpret_cast<q8::ActQ8_0*>(a.gpu.data());
        for (int64_t b = 0; b < n * cols / 32; ++b) q8::quantize_block_q8_0(x.data() + 32 * b, g[b]);
    } else {
        a.cpu_row = size_t(cols / 256) * sizeof(BlockQ8_K);
        a.cpu.resize(size_t(n) * a.cpu_row);
        k.quantize_q8_k(x.data(), a.cpu.data(), n * cols);
        a.gpu = a.cpu;  // the same format
    }
    return a;
}

std::vector<uint8_t> weight_bytes(GgmlType type, int64_t rows, int64_t cols, uint64_t seed) {
    std::vector<uint8_t> w(size_t(rows) * row_bytes(type, cols));
    for (int64_t r = 0; r < rows; ++r) {
        const std::vector<float> src = test::quant_test_row((cols + 31) / 32 * 32, seed * 1000 + uint64_t(r));
        quantize_row_ref(type, src.data(), w.data() + size_t(r) * row_bytes(type, cols), cols);
    }
    return w;
}

float cpu_dot(GgmlType type, const std::vector<uint8_t>& w, int64_t r, int64_t cols, const Activations& a, int64_t t) {
    float out = 0;
    kernels::portable_kernels()[type].dot(cols, w.data() + size_t(r) * row_bytes(type, cols), a.cpu.data() + size_t(t) * a.cpu_row,
                                          0, 1, &out);
    return out;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

const GgmlType kTypes[] = {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_0};

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
                    const auto w = weight_bytes(type, rows, cols, uint64_t(rows * 7 + cols));
                    const auto x = test::quant_test_row(n * cols, uint64_t(n + cols));
                    const Activations a = quantise(type, x, n, cols);
                    auto dw = test::to_device(w);
                    auto dx = test::to_device(a.gpu);
                    cuda::DeviceBuffer<float> dy(size_t(n * rows));
                    cuda::mmq(type, nullptr, dw.get(), nullptr, 0, n, rows, cols, dx.get(), dy.get(), nullptr);
                    const std::vector<float> y = dy.download();
                    for (int64_t t = 0; t < n; ++t)
                        for (int64_t r = 0; r < rows; ++r) {
                            const float want = cpu_dot(type, w, r, cols, a, t);
                            ASSERT_TRUE(same_bits(y[size_t(t * rows + r)], want))
                                << "token " << t << " row " << r << ": " << y[size_t(t * rows + r)] << " vs " << want;
                        }
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
            w.push_back(weight_bytes(type, rows, cols, uint64_t(e + 1)));
            dw.emplace_back(w.back());
            ptrs.push_back(dw.back().get());
        }
        const std::vector<int32_t> weight = {2, 0, 1};
        const std::vector<int64_t> first = {0, 6, 46}, count = {1, 40, 33};
        const std::vector<cuda::MmqTile> tiles = cuda::mmq_tiles(weight, first, count);
        ASSERT_EQ(tiles.size(), 1u + 2u + 2u);
        const auto x = test::quant_test_row(n * cols, 77);
        const Activations a = quantise(type, x, n, cols);
        auto dptrs = test::to_device(ptrs);
        auto dtiles = cuda::DeviceBuffer<cuda::MmqTile>(tiles);
        auto dx = test::to_device(a.gpu);
        const std::vector<float> sentinel(size_t(n * rows), -7.0f);
        auto dy = test::to_device(sentinel);
        cuda::mmq(type, dptrs.get(), nullptr, dtiles.get(), int64_t(tiles.size()), 0, rows, cols, dx.get(), dy.get(), nullptr);
        const std::vector<float> y = dy.download();
        for (int64_t t = 0; t < n; ++t) {
            int group = -1;
            for (size_t i = 0; i < first.size(); ++i)
                if (t >= first[i] && t < first[i] + count[i]) group = int(i);
            for (int64_t r = 0; r < rows; ++r) {
                const float got = y[size_t(t * rows + r)];
                if (group < 0) {
                    ASSERT_EQ(got, -7.0f) << "token " << t << " is in no group";
                    continue;
                }
                const float want = cpu_dot(type, w[size_t(weight[size_t(group)])], r, cols, a, t);
                ASSERT_TRUE(same_bits(got, want)) << "token " << t << " row " << r << ": " << got << " vs " << want;
            }
        }
    }
}

TEST(CudaMmq, TypesWithoutAKernelAndTilesWithoutWeightsAreRefused) {
    try {
        cuda::mmq(GgmlType::IQ4_XS, nullptr, nullptr, nullptr, 0, 4, 8, 256, nullptr, nullptr, nullptr);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "mmq: no CUDA kernel for type iq4_xs");
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
