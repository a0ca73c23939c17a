// RMSNorm and DeltaNet's gated RMSNorm: one thread block per row, the sum of squares in float.
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

namespace {

// Threads per row: about two values each, so one long row (decode) is not a long serial loop.
unsigned row_threads(int64_t width) {
    const int64_t t = ((width + 1) / 2 + kWarp - 1) / kWarp * kWarp;
    return unsigned(t < kWarp ? kWarp : t > 1024 ? 1024 : t);
}

__device__ inline float row_sum_squares(const float* x, int64_t width) {
    float ss = 0;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) ss += x[i] * x[i];
    return block_sum(ss);
}

__global__ void rms_norm_kernel(const float* x, const float* w, float* y, int64_t width, float eps) {
    const float* xr = x + int64_t(blockIdx.x) * width;
    float* yr = y + int64_t(blockIdx.x) * width;
    const float scale = 1.0f / sqrtf(row_sum_squares(xr, width) / float(width) + eps);
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) yr[i] = w ? xr[i] * scale * w[i] : xr[i] * scale;
}

__global__ void gated_rms_norm_kernel(const float* x, const float* z, const float* w, int64_t dim, float eps,
                                      float* out) {
    const int64_t off = int64_t(blockIdx.x) * dim;
    const float inv = 1.0f / sqrtf(row_sum_squares(x + off, dim) / float(dim) + eps);
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        out[off + i] = x[off + i] * inv * w[i] * silu_dev(z[off + i]);
}

}  // namespace

void rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t width, float eps, cudaStream_t stream) {
    check_non_negative("rms_norm", "rows", rows);
    check_positive("rms_norm", "width", width);
    if (rows == 0) return;
    rms_norm_kernel<<<unsigned(rows), row_threads(width), 0, stream>>>(x, w, y, width, eps);
    SLUICE_CUDA_CHECK_LAUNCH("rms_norm_kernel");
}

void gated_rms_norm(const float* x, const float* z, const float* w, int64_t rows, int64_t dim, float eps, float* out,
                    cudaStream_t stream) {
    check_non_negative("gated_rms_norm", "rows", rows);
    check_positive("gated_rms_norm", "dim", dim);
    if (rows == 0) return;
    gated_rms_norm_kernel<<<unsigned(rows), row_threads(dim), 0, stream>>>(x, z, w, dim, eps, out);
    SLUICE_CUDA_CHECK_LAUNCH("gated_rms_norm_kernel");
}

}  // namespace sluice::cuda
