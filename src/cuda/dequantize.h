// Dequantisation to half precision for matmul_prefill (src/cuda internal).
#pragma once
#include <cuda_fp16.h>

#include "cuda/kernels.h"

namespace sluice::cuda {

// dst[r, cols] (half) = rows first_row .. first_row + rows − 1 of W.
void dequantize_rows_to_half(GgmlType type, const void* w, int64_t first_row, int64_t rows, int64_t cols, __half* dst,
                             cudaStream_t stream);

}  // namespace sluice::cuda
