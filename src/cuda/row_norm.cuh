// One row's RMSNorm as norm.cu's kernels compute it: row_threads(width) threads a row, each
// summing the squares of its values (threadIdx.x, + blockDim.x, …), then block_sum. Kernels that
// fuse a norm into other work (add_rms_norm, rms_norm_rope_neox_store_kv) run this code with the
// same block size, so their values are rms_norm's bit for bit.
#pragma once
#include <cstdint>

#include "cuda/reduce.cuh"

namespace sluice::cuda {

// Threads per row: about two values each, so one long row (decode) is not a long serial loop.
inline unsigned row_threads(int64_t width) {
    const int64_t t = ((width + 1) / 2 + kWarp - 1) / kWarp * kWarp;
    return unsigned(t < kWarp ? kWarp : t > 1024 ? 1024 : t);
}

// Σ x[i]² over the row; every thread of the block calls it and gets the sum.
__device__ inline float row_sum_squares(const float* x, int64_t width) {
    float ss = 0;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) ss += x[i] * x[i];
    return block_sum(ss);
}

// 1 / rms(x): what the row's values are multiplied by.
__device__ inline float rms_inverse(const float* x, int64_t width, float eps) {
    return 1.0f / sqrtf(row_sum_squares(x, width) / float(width) + eps);
}

// y = x · scale · w (w null: x · scale) for the thread's values of the row; y may be x.
__device__ inline void scale_row(const float* x, const float* w, float scale, float* y, int64_t width) {
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) y[i] = w ? x[i] * scale * w[i] : x[i] * scale;
}

}  // namespace sluice::cuda
