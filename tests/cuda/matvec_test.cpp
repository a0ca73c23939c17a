// The matrix kernels against the scalar references, for every type, at row counts that are not
// multiples of the 4-row thread blocks and row lengths of 1..3 super-blocks (K-quants) or odd
// numbers of 32-blocks, for 1..8 activation rows (matvec) and 1..64 (prefill).
//
// Tolerances. The device decodes blocks bit-identically to dequantize_row_ref (checked below),
// so the reference is the double-precision dot of the dequantised row with x and only the float
// arithmetic differs. matvec: with W warps on a row (1, 2 or 4, each thread given at least one
// unit), each thread accumulates cols/(32W) products in sequence, then a 5-level warp reduction
// and W − 1 additions across warps: a product passes through at most a/W + W + 5 roundings,
// a = cols/32 ≥ W, which is at most a + 6, so
//     |gpu − ref| ≤ (cols/32 + 7)·2^-24·Σ|w_i·x_i|.
// matmul_prefill rounds x (and a quantised W) to half precision, 2^-11 relative each, or x to
// bfloat16 (2^-8) for BF16 weights, then accumulates in float in an order cuBLAS picks; values
// below half's normal range are rounded to its subnormal spacing (absolute 2^-25):
//     |gpu − ref| ≤ (2·2^-11 + cols·2^-24)·Σ|w_i·x_i| + 2^-25·Σ(|w_i| + |x_i|)   (BF16: 2^-8).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "cuda/dequantize.h"
#include "cuda/gpu_test_support.h"
#include "cuda/kernels.h"
#include "quant/iq_vectors.h"
#include "quant/random_iq_blocks.h"
#include "quant/test_rows.h"
#include "quant/types.h"

namespace sluice {
namespace {

const GgmlType kTypes[] = {GgmlType::F32,     GgmlType::F16,    GgmlType::BF16,    GgmlType::Q4_0,    GgmlType::Q4_1,
                           GgmlType::Q5_0,    GgmlType::Q5_1,   GgmlType::Q8_0,    GgmlType::Q2_K,    GgmlType::Q3_K,
                           GgmlType::Q4_K,    GgmlType::Q5_K,   GgmlType::Q6_K,    GgmlType::IQ4_NL,  GgmlType::IQ4_XS,
                           GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S,   GgmlType::IQ3_XXS, GgmlType::IQ3_S,
                           GgmlType::IQ1_S,   GgmlType::IQ1_M};

// Row lengths: 1..3 super-blocks, or odd counts of 32-blocks, or odd float counts.
std::vector<int64_t> awkward_cols(GgmlType t) {
    const int64_t bs = type_info(t).block_size;
    if (bs == 256) return {256, 512, 768};
    if (bs == 32) return {32, 96, 224};
    return {1, 33, 203};
}

// A weight [rows, cols] of type t quantised from awkward test rows (random valid blocks for the
// IQ grid types sluice does not write), and its dequantised floats.
struct TestWeight {
    GgmlType type;
    int64_t rows, cols;
    std::vector<uint8_t> bytes;
    std::vector<float> values;  // dequantize_row_ref of bytes
};

TestWeight make_weight(GgmlType t, int64_t rows, int64_t cols, uint64_t seed) {
    TestWeight w{t, rows, cols, std::vector<uint8_t>(size_t(rows) * row_bytes(t, cols)),
                 std::vector<float>(size_t(rows * cols))};
    const size_t stride = row_bytes(t, cols);
    std::mt19937_64 rng(seed);
    if (!can_quantize(t)) test::random_iq_blocks(t, w.bytes.data(), w.bytes.size(), rng);
    for (int64_t r = 0; r < rows; ++r) {
        // quant_test_row makes whole 32-blocks; shorter float rows take a prefix of one.
        std::vector<float> src = test::quant_test_row((cols + 31) / 32 * 32, seed * 1000 + uint64_t(r));
        if (can_quantize(t)) quantize_row_ref(t, src.data(), w.bytes.data() + size_t(r) * stride, cols);
        dequantize_row_ref(t, w.bytes.data() + size_t(r) * stride, w.values.data() + r * cols, cols);
    }
    return w;
}

// ref[j, r] and Σ|w·x| for x [n, cols].
struct Reference {
    std::vector<double> value, magnitude;
};

Reference reference_product(const TestWeight& w, const std::vector<float>& x, int64_t n) {
    Reference ref{std::vector<double>(size_t(n * w.rows)), std::vector<double>(size_t(n * w.rows))};
    for (int64_t j = 0; j < n; ++j)
        for (int64_t r = 0; r < w.rows; ++r)
            for (int64_t i = 0; i < w.cols; ++i) {
                const double wi = w.values[size_t(r * w.cols + i)], xi = x[size_t(j * w.cols + i)];
                ref.value[size_t(j * w.rows + r)] += wi * xi;
                ref.magnitude[size_t(j * w.rows + r)] += std::fabs(wi * xi);
            }
    return ref;
}

TEST(CudaMatvec, EveryTypeMatchesTheReference) {
    SLUICE_REQUIRE_GPU();
    const int64_t rows = 37;
    for (GgmlType t : kTypes) {
        for (int64_t cols : awkward_cols(t)) {
            const TestWeight w = make_weight(t, rows, cols, uint64_t(t) * 7 + uint64_t(cols));
            auto dw = test::to_device(w.bytes);
            for (int64_t n = 1; n <= cuda::kMaxMatvecRows; ++n) {
                SCOPED_TRACE(std::string(type_name(t)) + " cols " + std::to_string(cols) + " n " + std::to_string(n));
                const std::vector<float> x = test::uniform_values(size_t(n * cols), uint64_t(n * 100 + cols));
                auto dx = test::to_device(x);
                cuda::DeviceBuffer<float> dy(size_t(n * rows));
                cuda::matvec(t, dw.get(), rows, cols, dx.get(), n, dy.get(), nullptr);
                const std::vector<float> y = dy.download();
                const Reference ref = reference_product(w, x, n);
                const double factor = (double(cols) / 32 + 7) * test::kFloatEps;
                for (size_t i = 0; i < y.size(); ++i)
                    ASSERT_NEAR(y[i], ref.value[i], factor * ref.magnitude[i]) << "output " << i;
            }
        }
    }
}

// Several weights in one launch (decode's q, k, v): each output as its own matvec's, same bound.
// Row counts of 37, 5 and 300 put rows of different weights in one thread block.
TEST(CudaMatvec, SharedInputLaunchMatchesTheReference) {
    SLUICE_REQUIRE_GPU();
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::F16}) {
        const int64_t cols = awkward_cols(t).back();
        const std::vector<int64_t> rows = {37, 5, 300};
        std::vector<TestWeight> ws;
        std::vector<cuda::DeviceBuffer<uint8_t>> dws;
        for (size_t i = 0; i < rows.size(); ++i) {
            ws.push_back(make_weight(t, rows[i], cols, 50 + i));
            dws.emplace_back(ws.back().bytes);
        }
        for (int64_t n : {1, 3}) {
            SCOPED_TRACE(std::string(type_name(t)) + " n " + std::to_string(n));
            const std::vector<float> x = test::uniform_values(size_t(n * cols), uint64_t(n * 7 + cols));
            auto dx = test::to_device(x);
            std::vector<cuda::DeviceBuffer<float>> dys;
            std::vector<cuda::MatvecTarget> targets;
            for (size_t i = 0; i < rows.size(); ++i) {
                dys.emplace_back(size_t(n * rows[i]));
                targets.push_back({dws[i].get(), rows[i], dys.back().get()});
            }
            cuda::matvec_shared(t, targets.data(), int(targets.size()), cols, dx.get(), n, nullptr);
            const double factor = (double(cols) / 32 + 7) * test::kFloatEps;
            for (size_t i = 0; i < rows.size(); ++i) {
                const std::vector<float> y = dys[i].download();
                const Reference ref = reference_product(ws[i], x, n);
                for (size_t k = 0; k < y.size(); ++k)
                    ASSERT_NEAR(y[k], ref.value[k], factor * ref.magnitude[k]) << "weight " << i << " output " << k;
            }
        }
    }
    // More weights than one launch takes.
    cuda::MatvecTarget five[5];
    EXPECT_THROW(cuda::matvec_shared(GgmlType::F32, five, 5, 32, nullptr, 1, nullptr), Error);
}

TEST(CudaDequantize, RowsAreBitIdenticalToTheReference) {
    SLUICE_REQUIRE_GPU();
    for (GgmlType t : kTypes) {
        const int64_t cols = awkward_cols(t).back(), rows = 9;
        SCOPED_TRACE(type_name(t));
        const TestWeight w = make_weight(t, rows, cols, 3);
        auto dw = test::to_device(w.bytes);
        const std::vector<int32_t> ids = {4, 0, 8, 4, 1};  // repeats and any order
        auto dids = test::to_device(ids);
        cuda::DeviceBuffer<float> dout(ids.size() * size_t(cols));
        cuda::dequantize_rows(t, dw.get(), cols, dids.get(), int64_t(ids.size()), dout.get(), nullptr);
        const std::vector<float> out = dout.download();
        for (size_t k = 0; k < ids.size(); ++k)
            ASSERT_EQ(std::memcmp(out.data() + k * size_t(cols), w.values.data() + size_t(ids[k]) * size_t(cols),
                                  size_t(cols) * sizeof(float)),
                      0)
                << "row " << ids[k];
    }
}

// The IQ grid types on the blocks llama.cpp wrote (quantised and random, tests/data/iq): the
// floats its own dequantisers made of them, bit for bit.
TEST(CudaDequantize, IqBlocksLlamaCppWroteGiveItsFloatsBitForBit) {
    SLUICE_REQUIRE_GPU();
    for (const auto& file : test::kIqVectorFiles) {
        SCOPED_TRACE(file.name);
        const test::IqVectors v = test::read_iq_vectors(file.name);
        ASSERT_EQ(v.type, file.type);
        std::vector<uint8_t> bytes;
        for (const auto& row : v.blocks) bytes.insert(bytes.end(), row.begin(), row.end());
        auto dw = test::to_device(bytes);
        const int64_t rows = int64_t(v.blocks.size());
        cuda::DeviceBuffer<float> dout(size_t(rows * v.values));
        cuda::dequantize_rows_to_float(v.type, dw.get(), rows, v.values, dout.get(), nullptr);
        const std::vector<float> out = dout.download();
        for (int64_t r = 0; r < rows; ++r)
            ASSERT_EQ(std::memcmp(out.data() + r * v.values, v.floats[size_t(r)].data(), size_t(v.values) * sizeof(float)), 0)
                << "row " << r;
    }
}

TEST(CudaMatmulPrefill, EveryTypeMatchesTheReference) {
    SLUICE_REQUIRE_GPU();
    cublasHandle_t cublas;
    SLUICE_CUBLAS_CHECK(cublasCreate(&cublas));
    const int64_t rows = 45;
    for (GgmlType t : kTypes) {
        const int64_t cols = awkward_cols(t)[1];
        const TestWeight w = make_weight(t, rows, cols, 11);
        auto dw = test::to_device(w.bytes);
        for (int64_t n : {1, 3, 7, 64}) {
            SCOPED_TRACE(std::string(type_name(t)) + " n " + std::to_string(n));
            const std::vector<float> x = test::uniform_values(size_t(n * cols), uint64_t(n));
            auto dx = test::to_device(x);
            cuda::DeviceBuffer<float> dy(size_t(n * rows));
            // Scratch for 16 weight rows at a time, so quantised weights run in several slices.
            const size_t full = cuda::matmul_prefill_scratch_bytes(t, rows, cols, n);
            const size_t scratch_bytes = std::min(full, cuda::matmul_prefill_scratch_bytes(t, 16, cols, n));
            cuda::DeviceBuffer<uint8_t> scratch(std::max<size_t>(scratch_bytes, 1));
            cuda::matmul_prefill(cublas, t, dw.get(), rows, cols, dx.get(), n, dy.get(), scratch.get(), scratch_bytes,
                                 nullptr);
            const std::vector<float> y = dy.download();
            const Reference ref = reference_product(w, x, n);
            // Weights dequantised exactly and float32 products: only the accumulation rounds.
            const double factor = double(cols) * test::kFloatEps;
            for (size_t i = 0; i < y.size(); ++i)
                ASSERT_NEAR(y[i], ref.value[i], factor * ref.magnitude[i]) << "output " << i;
        }
    }
    cublasDestroy(cublas);
}

TEST(CudaMatrixErrors, BadSizesAndTypesAreErrors) {
    // Checked on the host before any launch, so these need no device.
    EXPECT_THROW(cuda::matvec(GgmlType::Q4_K, nullptr, 4, 100, nullptr, 1, nullptr, nullptr), Error);
    EXPECT_THROW(cuda::matvec(GgmlType::Q8_0, nullptr, 4, 64, nullptr, 9, nullptr, nullptr), Error);
    EXPECT_THROW(cuda::matvec(GgmlType::Q8_0, nullptr, 0, 64, nullptr, 1, nullptr, nullptr), Error);
    try {
        cuda::matvec(GgmlType::Q8_K, nullptr, 4, 256, nullptr, 1, nullptr, nullptr);
        FAIL() << "Q8_K weights have no kernel";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "matvec: no CUDA kernel for type q8_k");
    }
    EXPECT_FALSE(cuda::has_kernel(GgmlType::Q8_K));
    EXPECT_TRUE(cuda::has_kernel(GgmlType::IQ4_XS));
    EXPECT_TRUE(cuda::has_kernel(GgmlType::IQ1_M));
    EXPECT_FALSE(cuda::has_kernel(GgmlType::MXFP4));
}

}  // namespace
}  // namespace sluice
