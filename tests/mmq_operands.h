// The operands and the check of the int8 tensor-core prefill products, shared by the GPU test
// (tests/cuda/mmq_test.cpp) and the CPU emulation of its block logic
// (tests/kernels/cuda_mmq_tile_test.cpp): both hold each output to the portable CPU dot of the
// same quantised operands, bit for bit.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "cuda/q8_arith.h"
#include "kernels/dot.h"
#include "quant/random_iq_blocks.h"
#include "quant/test_rows.h"
#include "quant/types.h"

namespace sluice::test {

// `rows` random weight rows of `cols` values, quantised to `type` by the reference (random valid
// blocks for the IQ grid types sluice does not write).
inline std::vector<uint8_t> mmq_weight_bytes(GgmlType type, int64_t rows, int64_t cols, uint64_t seed) {
    std::vector<uint8_t> w(size_t(rows) * row_bytes(type, cols));
    std::mt19937_64 rng(seed);
    if (!can_quantize(type)) random_iq_blocks(type, w.data(), w.size(), rng);
    for (int64_t r = 0; r < rows && can_quantize(type); ++r) {
        const std::vector<float> src = quant_test_row((cols + 31) / 32 * 32, seed * 1000 + uint64_t(r));
        quantize_row_ref(type, src.data(), w.data() + size_t(r) * row_bytes(type, cols), cols);
    }
    return w;
}

// n activation rows of `cols` values quantised for `type`: the CPU's blocks (for its dot) and the
// GPU's (Q8_K: the same bytes; Q8_0: q8::ActQ8_0 blocks).
struct MmqActivations {
    std::vector<uint8_t> cpu, gpu;
    size_t cpu_row = 0;  // bytes of one CPU row
};

inline MmqActivations mmq_activations(GgmlType type, const std::vector<float>& x, int64_t n, int64_t cols) {
    MmqActivations a;
    const auto& k = kernels::portable_kernels();
    if (type == GgmlType::Q8_0) {
        a.cpu_row = size_t(cols / 32) * sizeof(BlockQ8_0);
        a.cpu.resize(size_t(n) * a.cpu_row);
        k.quantize_q8_0(x.data(), a.cpu.data(), n * cols);
        a.gpu.resize(size_t(n * cols / 32) * sizeof(q8::ActQ8_0));
        auto* g = reinterpret_cast<q8::ActQ8_0*>(a.gpu.data());
        for (int64_t b = 0; b < n * cols / 32; ++b) q8::quantize_block_q8_0(x.data() + 32 * b, g[b]);
    } else {
        a.cpu_row = size_t(cols / 256) * sizeof(BlockQ8_K);
        a.cpu.resize(size_t(n) * a.cpu_row);
        k.quantize_q8_k(x.data(), a.cpu.data(), n * cols);
        a.gpu = a.cpu;
    }
    return a;
}

// The portable CPU dot of weight row r with activation row t.
inline float portable_dot(GgmlType type, const uint8_t* w, int64_t r, int64_t cols, const MmqActivations& a, int64_t t) {
    float out = 0;
    kernels::portable_kernels()[type].dot(cols, w + size_t(r) * row_bytes(type, cols),
                                          a.cpu.data() + size_t(t) * a.cpu_row, 0, 1, &out);
    return out;
}

// y [n, rows] of a grouped product: token t of group i (first[i] .. first[i] + count[i] − 1) has
// the portable dot with group_weight[i], bit for bit; tokens in no group kept the sentinel −7.
inline void expect_grouped_outputs(GgmlType type, const std::vector<float>& y, int64_t n, int64_t rows, int64_t cols,
                                   const std::vector<const uint8_t*>& group_weight, const std::vector<int64_t>& first,
                                   const std::vector<int64_t>& count, const MmqActivations& a) {
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
            const float want = portable_dot(type, group_weight[size_t(group)], r, cols, a, t);
            ASSERT_EQ(std::memcmp(&got, &want, 4), 0) << type_name(type) << " cols " << cols << " token " << t
                                                      << " row " << r << ": " << got << " vs " << want;
        }
    }
}

}  // namespace sluice::test
