// The data movement of the batched MoE (prefill, several sequences): token rows gathered into
// one block per expert, and each token's K expert outputs summed back in a fixed order. The
// grouping itself is decided on the host (gpu/cuda_backend.cpp).
#include "cuda/kernels.h"
#include "cuda/launch.cuh"

namespace sluice::cuda {

namespace {

__global__ void gather_rows_kernel(const float* src, int64_t cols, const int32_t* rows, int64_t count, float* dst) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < count * cols) dst[i] = src[int64_t(rows[i / cols]) * cols + i % cols];
}

// One thread per output value: the K terms in the order given, so the sum does not depend on
// how the rows were grouped.
__global__ void moe_combine_kernel(const float* y, const int32_t* at, const float* w, int64_t n, int64_t k, int64_t cols,
                                   float* out) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n * cols) return;
    const int64_t t = i / cols, d = i % cols;
    float acc = out[i];
    for (int64_t j = 0; j < k; ++j) acc += w[t * k + j] * y[int64_t(at[t * k + j]) * cols + d];
    out[i] = acc;
}

}  // namespace

void gather_rows(const float* src, int64_t cols, const int32_t* rows, int64_t count, float* dst, cudaStream_t stream) {
    check_non_negative("gather_rows", "count", count);
    check_positive("gather_rows", "columns", cols);
    if (count == 0) return;
    gather_rows_kernel<<<element_blocks(count * cols), kElementThreads, 0, stream>>>(src, cols, rows, count, dst);
    SLUICE_CUDA_CHECK_LAUNCH("gather_rows_kernel");
}

void moe_combine(const float* y, const int32_t* at, const float* weights, int64_t n, int64_t k, int64_t cols, float* out,
                 cudaStream_t stream) {
    check_non_negative("moe_combine", "tokens", n);
    check_positive("moe_combine", "k", k);
    check_positive("moe_combine", "columns", cols);
    if (n == 0) return;
    moe_combine_kernel<<<element_blocks(n * cols), kElementThreads, 0, stream>>>(y, at, weights, n, k, cols, out);
    SLUICE_CUDA_CHECK_LAUNCH("moe_combine_kernel");
}

}  // namespace sluice::cuda
