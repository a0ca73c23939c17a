// The CUDA backend's own choices between kernels, against the same backend's plainer path.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda/gpu_test_support.h"
#include "gpu/cuda_backend.h"
#include "quant/types.h"

namespace sluice {
namespace {

// A rows × cols weight of `type` from random values, in the backend's memory.
Weight random_weight(Backend& be, GgmlType type, int64_t rows, int64_t cols, uint64_t seed) {
    const auto values = test::uniform_values(size_t(rows * cols), seed);
    std::vector<uint8_t> bytes(size_t(rows) * row_bytes(type, cols));
    quantize_row_ref(type, values.data(), bytes.data(), rows * cols);
    return be.weight(Weight{type, bytes.data(), rows, cols}, "test weight " + std::to_string(seed));
}

// matmul_shared groups decode products by weight type (one launch each) and quantises x once for
// all the weights that read the same 8-bit activations (Q8_K for Q4_K and Q6_K, Q8_0 for Q8_0);
// each output must be the weight's own matmul bit for bit (fewer than 16384 rows a launch: a row
// gets as many warps grouped as alone). Two Q4_K weights apart, a Q6_K, a Q8_0 and an F32 one
// (float kernels), for 1 and 3 activation rows.
TEST(GpuBackend, SharedDecodeProductsOfMixedTypesAreEachProductBitForBit) {
    SLUICE_REQUIRE_GPU();
    const auto be = make_cuda_backend(0);
    const int64_t cols = 512;
    const GgmlType types[] = {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::F32};
    const int64_t rows[] = {96, 64, 130, 40, 33};
    std::vector<Weight> ws;
    for (size_t i = 0; i < std::size(types); ++i) ws.push_back(random_weight(*be, types[i], rows[i], cols, 7 + i));
    for (int64_t n : {1, 3}) {
        SCOPED_TRACE(std::to_string(n) + " rows");
        Backend::Frame frame(*be);
        const Vec xv = be->vec(test::uniform_values(size_t(n * cols), 40 + uint64_t(n), -2.0f, 2.0f));
        const Act x{const_cast<float*>(xv.data), n, cols};
        std::vector<const Weight*> pointers;
        std::vector<Act> shared, alone;
        for (const Weight& w : ws) {
            pointers.push_back(&w);
            shared.push_back(be->act(n, w.rows));
            alone.push_back(be->act(n, w.rows));
        }
        be->matmul_shared(pointers, x, shared);
        for (size_t i = 0; i < ws.size(); ++i) be->matmul(ws[i], x, alone[i]);
        for (size_t i = 0; i < ws.size(); ++i) {
            std::vector<float> a(size_t(shared[i].size())), b(a.size());
            be->read(shared[i], a.data());
            be->read(alone[i], b.data());
            ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "weight " << i << " (" << type_name(types[i]) << ")";
        }
    }
}

}  // namespace
}  // namespace sluice
