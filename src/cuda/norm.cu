// RMSNorm, the residual add fused with the RMSNorm that follows it, and DeltaNet's gated RMSNorm:
// one thread block per row, the sum of squares in float (row_norm.cuh).
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/row_norm.cuh"

namespace sluice::cuda {

namespace {

__global__ void rms_norm_kernel(const float* x, const float* w, float* y, int64_t width, float eps) {
    const float* xr = x + int64_t(blockIdx.x) * width;
    scale_row(xr, w, rms_inverse(xr, width, eps), y + int64_t(blockIdx.x) * width, width);
}

// add_kernel's sum (one rounding), then rms_norm_kernel on it. Each thread reads back only the
// sums it wrote itself until block_sum's barriers, so none is needed before the norm.
__global__ void add_rms_norm_kernel(float* h, const float* a, const float* w, float* y, int64_t width, float eps) {
    float* hr = h + int64_t(blockIdx.x) * width;
    const float* ar = a + int64_t(blockIdx.x) * width;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) hr[i] += ar[i];
    scale_row(hr, w, rms_inverse(hr, width, eps), y + int64_t(blockIdx.x) * width, width);
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

void add_rms_norm(float* h, const float* a, const float* w, float* y, int64_t rows, int64_t width, float eps,
                  cudaStream_t stream) {
    check_non_negative("add_rms_norm", "rows", rows);
    check_positive("add_rms_norm", "width", width);
    if (rows == 0) return;
    add_rms_norm_kernel<<<unsigned(rows), row_threads(width), 0, stream>>>(h, a, w, y, width, eps);
    SLUICE_CUDA_CHECK_LAUNCH("add_rms_norm_kernel");
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
