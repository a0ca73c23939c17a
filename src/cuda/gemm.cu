// Prefill matrix × matrix through cuBLAS (as llama.cpp does for large batches), in float32: a
// quantised or 16-bit weight is dequantised to float32 slice by slice into the caller's scratch
// and multiplied with the float32 activations, float32 accumulation, no TF32. Measured on the
// H200 (tests/gpu): converting the activations to F16/BF16 as llama.cpp does, for tensor cores,
// moved the logits of the bf16 fixtures by 2e-2 (Qwen3-MoE) to 1.4 (Qwen3-Next) from the
// references, where the CPU path is within 5e-4; a tensor-core path needs an error bound of its
// own and is later work.
#include <algorithm>
#include <climits>

#include "cuda/dequantize.h"
#include "cuda/dispatch.cuh"

namespace sluice::cuda {

namespace {

// Y[n, rows] row-major is Yᵀ [rows, n] column-major: Yᵀ = W·Xᵀ, with W [rows, cols] row-major
// read as a column-major [cols, rows] matrix transposed. ldc: Y's row length.
void gemm(cublasHandle_t cublas, const float* w, const float* x, int64_t rows, int64_t ldc, int64_t cols, int64_t n,
          float* y) {
    const float alpha = 1.0f, beta = 0.0f;
    SLUICE_CUBLAS_CHECK(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(n), int(cols), &alpha, w, CUDA_R_32F,
                                     int(cols), x, CUDA_R_32F, int(cols), &beta, y, CUDA_R_32F, int(ldc),
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

size_t matmul_prefill_scratch_bytes(GgmlType type, int64_t rows, int64_t cols, int64_t) {
    return type == GgmlType::F32 ? 0 : size_t(rows) * size_t(cols) * sizeof(float);
}

void matmul_prefill(cublasHandle_t cublas, GgmlType type, const void* w, int64_t rows, int64_t cols, const float* x,
                    int64_t n, float* y, void* scratch, size_t scratch_bytes, cudaStream_t stream) {
    check_matrix("matmul_prefill", type, rows, cols);
    if (!has_kernel(type)) throw_no_kernel("matmul_prefill", type);
    if (n < 1 || n > INT_MAX || rows > INT_MAX || cols > INT_MAX)
        throw_error("matmul_prefill: " + std::to_string(n) + " x " + std::to_string(cols) + " activations for " +
                    std::to_string(rows) + " rows exceed cuBLAS's int sizes");
    SLUICE_CUBLAS_CHECK(cublasSetStream(cublas, stream));
    if (type == GgmlType::F32) {
        gemm(cublas, static_cast<const float*>(w), x, rows, rows, cols, n, y);
        return;
    }
    const size_t row_float_bytes = size_t(cols) * sizeof(float);
    if (scratch_bytes < row_float_bytes)
        throw_error("matmul_prefill: " + std::to_string(scratch_bytes) + " bytes of scratch, at least " +
                    std::to_string(row_float_bytes) + " needed");
    // As many rows per slice as the scratch holds; the slices run in order on the stream.
    auto* wf = static_cast<float*>(scratch);
    const int64_t slice = int64_t(scratch_bytes / row_float_bytes);
    for (int64_t r0 = 0; r0 < rows; r0 += slice) {
        const int64_t m = std::min(slice, rows - r0);
        dequantize_rows_to_float(type, static_cast<const uint8_t*>(w) + size_t(r0) * row_bytes(type, cols), m, cols, wf,
                                 stream);
        gemm(cublas, wf, x, m, rows, cols, n, y + r0);
    }
}

}  // namespace sluice::cuda
