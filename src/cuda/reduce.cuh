// Warp and thread-block reductions (sums and maxima in float; every thread gets the result).
#pragma once
#include <cuda_runtime.h>

namespace sluice::cuda {

constexpr int kWarp = 32;

__device__ inline float warp_sum(float v) {
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ inline float warp_max(float v) {
    for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the thread block (blockDim.x a multiple of 32, at most 1024); all threads must call it.
__device__ inline float block_sum(float v) {
    __shared__ float partial[kWarp];
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, warps = blockDim.x / kWarp;
    v = warp_sum(v);
    __syncthreads();  // an earlier call's readers are done with `partial`
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : 0.0f;
    return warp_sum(v);
}

__device__ inline float silu_dev(float x) { return x / (1.0f + expf(-x)); }
__device__ inline float sigmoid_dev(float x) { return 1.0f / (1.0f + expf(-x)); }

}  // namespace sluice::cuda
