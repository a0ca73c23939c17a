// Prefill matrix × matrix through cuBLAS (as llama.cpp does for large batches): the weight is
// dequantised to F16 slice by slice into the caller's scratch, the activations converted to the
// weight's 16-bit format, and cublasGemmEx multiplies with float32 accumulation.
#include <cuda_bf16.h>

#include <algorithm>
#include <climits>

#include "cuda/dequantize.h"
#include "cuda/dispatch.cuh"

namespace sluice::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void to_half_kernel(const float* x, int64_t count, __half* y) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < count) y[i] = __float2half_rn(x[i]);
}

__global__ void to_bf16_kernel(const float* x, int64_t count, __nv_bfloat16* y) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < count) y[i] = __float2bfloat16_rn(x[i]);
}

size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Y[n, rows] row-major is Yᵀ [rows, n] column-major: Yᵀ = W·Xᵀ, with W [rows, cols] row-major
// read as a column-major [cols, rows] matrix transposed.
void gemm(cublasHandle_t cublas, const void* w, cudaDataType w_type, const void* x, cudaDataType x_type, int64_t rows,
          int64_t ldc, int64_t cols, int64_t n, float* y) {
    const float alpha = 1.0f, beta = 0.0f;
    SLUICE_CUBLAS_CHECK(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(n), int(cols), &alpha, w, w_type,
                                     int(cols), x, x_type, int(cols), &beta, y, CUDA_R_32F, int(ldc),
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

size_t matmul_prefill_scratch_bytes(GgmlType type, int64_t rows, int64_t cols, int64_t n) {
    if (type == GgmlType::F32) return 0;
    const size_t x_bytes = align256(size_t(n) * size_t(cols) * 2);
    if (type == GgmlType::F16 || type == GgmlType::BF16) return x_bytes;
    return x_bytes + size_t(rows) * size_t(cols) * 2;
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
        gemm(cublas, w, CUDA_R_32F, x, CUDA_R_32F, rows, rows, cols, n, y);
        return;
    }
    const int64_t count = n * cols;
    const size_t x_bytes = align256(size_t(count) * 2);
    const size_t row_half_bytes = size_t(cols) * 2;
    const bool dequantise = type != GgmlType::F16 && type != GgmlType::BF16;
    if (scratch_bytes < x_bytes + (dequantise ? row_half_bytes : 0))
        throw_error("matmul_prefill: " + std::to_string(scratch_bytes) + " bytes of scratch, at least " +
                    std::to_string(x_bytes + (dequantise ? row_half_bytes : 0)) + " needed");
    const unsigned blocks = unsigned((count + kThreads - 1) / kThreads);
    if (type == GgmlType::BF16) {
        auto* xb = static_cast<__nv_bfloat16*>(scratch);
        to_bf16_kernel<<<blocks, kThreads, 0, stream>>>(x, count, xb);
        SLUICE_CUDA_CHECK_LAUNCH("to_bf16_kernel");
        gemm(cublas, w, CUDA_R_16BF, xb, CUDA_R_16BF, rows, rows, cols, n, y);
        return;
    }
    auto* xh = static_cast<__half*>(scratch);
    to_half_kernel<<<blocks, kThreads, 0, stream>>>(x, count, xh);
    SLUICE_CUDA_CHECK_LAUNCH("to_half_kernel");
    if (!dequantise) {
        gemm(cublas, w, CUDA_R_16F, xh, CUDA_R_16F, rows, rows, cols, n, y);
        return;
    }
    // As many rows per slice as the scratch holds; the slices run in order on the stream.
    auto* wh = reinterpret_cast<__half*>(static_cast<uint8_t*>(scratch) + x_bytes);
    const int64_t slice = int64_t((scratch_bytes - x_bytes) / row_half_bytes);
    for (int64_t r0 = 0; r0 < rows; r0 += slice) {
        const int64_t m = std::min(slice, rows - r0);
        dequantize_rows_to_half(type, static_cast<const uint8_t*>(w) + size_t(r0) * row_bytes(type, cols), 0, m, cols,
                                wh, stream);
        gemm(cublas, wh, CUDA_R_16F, xh, CUDA_R_16F, m, rows, cols, n, y + r0);
    }
}

}  // namespace sluice::cuda
