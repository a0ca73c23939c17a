// What the two decode MoE kernels (moe.cu on float activations, moe_q8.cu on 8-bit ones) share:
// gate/up blocks of kMoeRowsPerBlock warps, W warps a row, and the ends of both steps.
#pragma once
#include <cstdint>

#include "cuda/reduce.cuh"

namespace sluice::cuda {

constexpr int kMoeRowsPerBlock = 4;

// The gate/up step's end: sums each lane's partial g and u of row r (and the W warps' through
// `part`), then h[blockIdx.y, r] = silu(g)·u. Every thread of the block calls it.
template <int W>
__device__ inline void store_swiglu_row(float g, float u, bool valid, int64_t r, int64_t inter,
                                        float (*part)[2], float* h) {
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    g = warp_sum(g);
    u = warp_sum(u);
    if constexpr (W > 1) {
        if (lane == 0) {
            part[warp][0] = g;
            part[warp][1] = u;
        }
        __syncthreads();
        if (warp % W == 0)
            for (int v = 1; v < W; ++v) {
                g += part[warp + v][0];
                u += part[warp + v][1];
            }
    }
    if (valid && lane == 0 && warp % W == 0) h[blockIdx.y * inter + r] = silu_dev(g) * u;
}

// The down step's end: out[r] += Σ_j weights[j] · y[j], in the order of j (y in shared memory,
// written before by the block's warps). Every thread of the block calls it.
__device__ inline void add_weighted_experts(const float* y, const float* weights, int64_t k, int64_t r, float* out) {
    __syncthreads();
    if (threadIdx.x == 0) {
        float acc = 0.0f;
        for (int64_t j = 0; j < k; ++j) acc += weights[j] * y[j];
        out[r] += acc;
    }
}

}  // namespace sluice::cuda
