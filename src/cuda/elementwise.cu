// Element-wise operations of the forward pass: SwiGLU's silu·mul, sigmoid gates, the residual
// add and the column gather. One thread per element.
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

namespace {

__device__ inline int64_t element_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }

__global__ void silu_mul_kernel(const float* gate, const float* up, float* out, int64_t count) {
    const int64_t i = element_index();
    if (i < count) out[i] = silu_dev(gate[i]) * up[i];
}

__global__ void sigmoid_gate_mul_kernel(float* x, const float* gate, int64_t count, int64_t width, int64_t gate_width) {
    const int64_t i = element_index();
    if (i >= count) return;
    const int64_t r = i / width, j = i % width;
    x[i] *= sigmoid_dev(gate[r * gate_width + j / (width / gate_width)]);
}

// The two roundings of sigmoid_gate_mul then add_kernel, kept apart (no fused multiply-add), so
// the result is theirs bit for bit.
__global__ void add_sigmoid_gated_kernel(float* y, const float* x, const float* gate, int64_t count, int64_t width) {
    const int64_t i = element_index();
    if (i < count) y[i] = __fadd_rn(y[i], __fmul_rn(x[i], sigmoid_dev(gate[i / width])));
}

__global__ void add_kernel(float* y, const float* x, int64_t count) {
    const int64_t i = element_index();
    if (i < count) y[i] += x[i];
}

__global__ void gather_columns_kernel(const float* src, int64_t src_cols, const int32_t* map, int64_t dst_cols,
                                      int64_t count, float* dst) {
    const int64_t i = element_index();
    if (i < count) dst[i] = src[(i / dst_cols) * src_cols + map[i % dst_cols]];
}

}  // namespace

void silu_mul(const float* gate, const float* up, float* out, int64_t count, cudaStream_t stream) {
    check_non_negative("silu_mul", "count", count);
    if (count == 0) return;
    silu_mul_kernel<<<element_blocks(count), kElementThreads, 0, stream>>>(gate, up, out, count);
    SLUICE_CUDA_CHECK_LAUNCH("silu_mul_kernel");
}

void sigmoid_gate_mul(float* x, const float* gate, int64_t rows, int64_t width, int64_t gate_width,
                      cudaStream_t stream) {
    check_non_negative("sigmoid_gate_mul", "rows", rows);
    check_positive("sigmoid_gate_mul", "width", width);
    if (gate_width <= 0 || width % gate_width != 0)
        throw_error("sigmoid_gate_mul: gate width " + std::to_string(gate_width) + " does not divide width " +
                    std::to_string(width));
    if (rows == 0) return;
    sigmoid_gate_mul_kernel<<<element_blocks(rows * width), kElementThreads, 0, stream>>>(x, gate, rows * width, width,
                                                                                          gate_width);
    SLUICE_CUDA_CHECK_LAUNCH("sigmoid_gate_mul_kernel");
}

void add_sigmoid_gated(float* y, const float* x, const float* gate, int64_t rows, int64_t width, cudaStream_t stream) {
    check_non_negative("add_sigmoid_gated", "rows", rows);
    check_positive("add_sigmoid_gated", "width", width);
    if (rows == 0) return;
    add_sigmoid_gated_kernel<<<element_blocks(rows * width), kElementThreads, 0, stream>>>(y, x, gate, rows * width, width);
    SLUICE_CUDA_CHECK_LAUNCH("add_sigmoid_gated_kernel");
}

void add_inplace(float* y, const float* x, int64_t count, cudaStream_t stream) {
    check_non_negative("add_inplace", "count", count);
    if (count == 0) return;
    add_kernel<<<element_blocks(count), kElementThreads, 0, stream>>>(y, x, count);
    SLUICE_CUDA_CHECK_LAUNCH("add_kernel");
}

void gather_columns(const float* src, int64_t rows, int64_t src_cols, const int32_t* map, int64_t dst_cols, float* dst,
                    cudaStream_t stream) {
    check_non_negative("gather_columns", "rows", rows);
    check_positive("gather_columns", "source columns", src_cols);
    check_positive("gather_columns", "destination columns", dst_cols);
    if (rows == 0) return;
    gather_columns_kernel<<<element_blocks(rows * dst_cols), kElementThreads, 0, stream>>>(src, src_cols, map, dst_cols,
                                                                                           rows * dst_cols, dst);
    SLUICE_CUDA_CHECK_LAUNCH("gather_columns_kernel");
}

}  // namespace sluice::cuda
