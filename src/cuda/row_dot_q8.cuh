// Dot products of a weight row with N quantised activation rows (q8_arith.h): of L threads on
// a row, thread i takes its 32-value units i, i + L, ..., so they read consecutive bytes together.
#pragma once
#include "cuda/q8_arith.h"

namespace sluice::cuda {

// acc[j] = this thread's part of row · x_j for j < N: units lane, lane + lanes, … of the row.
template <GgmlType T, int N>
__device__ inline void lanes_row_dot_q8(const uint8_t* row, int64_t blocks, const typename q8::Q8Unit<T>::Act* x,
                                        int lane, int lanes, float (&acc)[N]) {
    using Unit = q8::Q8Unit<T>;
    const auto* w = reinterpret_cast<const typename Unit::Block*>(row);
    for (int j = 0; j < N; ++j) acc[j] = 0.0f;
    const int64_t units = blocks * Unit::kUnits;
    for (int64_t u = lane; u < units; u += lanes) {
        const int64_t b = u / Unit::kUnits;
        const int part = int(u % Unit::kUnits);
        for (int j = 0; j < N; ++j) acc[j] = q8::add_rn(acc[j], q8::unit_term<T>(w[b], x[j * blocks + b], part));
    }
}

}  // namespace sluice::cuda
