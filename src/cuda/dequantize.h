// Dequantisation of contiguous weight rows for matmul_prefill (src/cuda internal).
#pragma once

#include "cuda/kernels.h"

namespace sluice::cuda {

// dst[r, cols] = the first `rows` rows of W as float32 (bit-identical to dequantize_row_ref).
void dequantize_rows_to_float(GgmlType type, const void* w, int64_t rows, int64_t cols, float* dst, cudaStream_t stream);

}  // namespace sluice::cuda
