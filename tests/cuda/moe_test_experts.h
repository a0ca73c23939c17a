// The experts the decode MoE tests (moe_test.cpp, q8_test.cpp) run: E experts' gate [I, H], up
// [I, H] and down [H, I] of the given types, as stored (also on the device, with the pointer
// tables the kernels take) and dequantised (for the float64 reference).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "cuda/gpu_test_support.h"
#include "cuda/kernels.h"
#include "quant/random_iq_blocks.h"
#include "quant/test_rows.h"
#include "quant/types.h"

namespace sluice::test {

struct QuantMatrix {
    std::vector<uint8_t> bytes;
    std::vector<float> values;
    cuda::DeviceBuffer<uint8_t> device;
};

// Random rows scaled by 0.05 (silu's inputs in a realistic range), quantised by the reference;
// for the IQ grid types sluice does not write, random valid blocks with scales of 2^-14..2^-7,
// which put their values in about the same range.
inline QuantMatrix quant_matrix(GgmlType t, int64_t rows, int64_t cols, uint64_t seed) {
    QuantMatrix m{std::vector<uint8_t>(size_t(rows) * row_bytes(t, cols)), std::vector<float>(size_t(rows * cols)), {}};
    std::mt19937_64 rng(seed);
    if (!can_quantize(t)) random_iq_blocks(t, m.bytes.data(), m.bytes.size(), rng, -8);
    for (int64_t r = 0; r < rows; ++r) {
        auto src = quant_test_row(cols, seed * 10000 + uint64_t(r));
        for (auto& x : src) x *= 0.05f;
        if (can_quantize(t)) quantize_row_ref(t, src.data(), m.bytes.data() + size_t(r) * row_bytes(t, cols), cols);
        dequantize_row_ref(t, m.bytes.data() + size_t(r) * row_bytes(t, cols), m.values.data() + r * cols, cols);
    }
    m.device = cuda::DeviceBuffer<uint8_t>(m.bytes);
    return m;
}

struct TestExperts {
    std::vector<QuantMatrix> gate, up, down;
    cuda::DeviceBuffer<const void*> gate_table, up_table, down_table;
    cuda::MoeExpertTable table(GgmlType gate_up_type, GgmlType down_type, int64_t hidden, int64_t inter) const {
        return {gate_table.get(), up_table.get(), down_table.get(), gate_up_type, down_type, hidden, inter};
    }
};

inline TestExperts test_experts(GgmlType gate_up_type, GgmlType down_type, int64_t E, int64_t I, int64_t H) {
    TestExperts ex;
    std::vector<const void*> gate_ptrs, up_ptrs, down_ptrs;
    for (int64_t e = 0; e < E; ++e) {
        ex.gate.push_back(quant_matrix(gate_up_type, I, H, uint64_t(3 * e + 1)));
        ex.up.push_back(quant_matrix(gate_up_type, I, H, uint64_t(3 * e + 2)));
        ex.down.push_back(quant_matrix(down_type, H, I, uint64_t(3 * e + 3)));
        gate_ptrs.push_back(ex.gate.back().device.get());
        up_ptrs.push_back(ex.up.back().device.get());
        down_ptrs.push_back(ex.down.back().device.get());
    }
    ex.gate_table = to_device(gate_ptrs);
    ex.up_table = to_device(up_ptrs);
    ex.down_table = to_device(down_ptrs);
    return ex;
}

}  // namespace sluice::test
