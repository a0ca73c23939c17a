// MoE on the device: router softmax + top-k, and the fused decode MoE that runs a token's k
// experts from a table of expert weight pointers, reading the chosen ids on the device.
#include <algorithm>
#include <climits>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/moe_decode.cuh"
#include "cuda/row_dot.cuh"

namespace sluice::cuda {

namespace {

// One warp per token. Probabilities in shared memory; k rounds of a warp arg-max, larger
// probability first and the lower id on ties (as the CPU's route_top_k).
__global__ void route_top_k_kernel(const float* logits, int64_t n_experts, int64_t k, bool normalize, int32_t* ids,
                                   float* weights) {
    extern __shared__ float p[];
    const int lane = threadIdx.x;
    const int64_t t = blockIdx.x;
    const float* l = logits + t * n_experts;
    float mx = -INFINITY;
    for (int64_t e = lane; e < n_experts; e += kWarp) mx = fmaxf(mx, l[e]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int64_t e = lane; e < n_experts; e += kWarp) sum += p[e] = expf(l[e] - mx);
    sum = warp_sum(sum);
    for (int64_t e = lane; e < n_experts; e += kWarp) p[e] /= sum;
    __syncwarp();
    float kept = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
        float best = -1.0f;
        int best_id = INT_MAX;
        for (int64_t e = lane; e < n_experts; e += kWarp)
            if (p[e] > best) best = p[e], best_id = int(e);  // ascending e: a tie keeps the lower id
        for (int o = kWarp / 2; o > 0; o /= 2) {
            const float ob = __shfl_xor_sync(0xffffffffu, best, o);
            const int oid = __shfl_xor_sync(0xffffffffu, best_id, o);
            if (ob > best || (ob == best && oid < best_id)) best = ob, best_id = oid;
        }
        kept += best;
        if (lane == 0) {
            ids[t * k + j] = best_id;
            weights[t * k + j] = best;
        }
        if (lane == best_id % kWarp) p[best_id] = -1.0f;  // taken
        __syncwarp();
    }
    if (normalize)
        for (int64_t j = lane; j < k; j += kWarp) weights[t * k + j] /= kept;
}

constexpr int kMaxDownWarps = 8;

// Block (row tile, j): W warps → row r of expert ids[j]'s gate and up (4 / W rows a block);
// h[j, r] = silu(g)·u. W = 4 where rows are long enough: a decode layer's 8 × 768 gate/up rows
// walked by one warp each were latency-bound (25 µs for 14 MB on the H200).
template <GgmlType T, int W>
__global__ void moe_gate_up_kernel(const void* const* gate, const void* const* up, const int32_t* ids, int64_t hidden,
                                   int64_t inter, size_t row_stride, const float* x, float* h) {
    __shared__ float part[kMoeRowsPerBlock][2];
    const int warp = threadIdx.x / kWarp;
    const int64_t r = int64_t(blockIdx.x) * (kMoeRowsPerBlock / W) + warp / W;
    const bool valid = r < inter;
    float g[1] = {0.0f}, u[1] = {0.0f};
    if (valid) {
        const int e = ids[blockIdx.y], l = int(threadIdx.x % (kWarp * W));
        lanes_row_dot<T, 1>(static_cast<const uint8_t*>(gate[e]) + size_t(r) * row_stride, hidden, x, hidden, l,
                            kWarp * W, g);
        lanes_row_dot<T, 1>(static_cast<const uint8_t*>(up[e]) + size_t(r) * row_stride, hidden, x, hidden, l,
                            kWarp * W, u);
    }
    store_swiglu_row<W>(g[0], u[0], valid, r, inter, part, h);
}

// Block → output row r, warp w → experts j = w, w + warps, …: y_j = (down_{ids[j]} row r) · h[j]
// into shared memory, then Σ_j weights[j] · y_j in the order of j. The experts' rows are read in
// parallel (one warp walking all k in turn was latency-bound: 25 µs a layer on the H200).
template <GgmlType T>
__global__ void moe_down_kernel(const void* const* down, const int32_t* ids, const float* weights, int64_t k,
                                int64_t hidden, int64_t inter, size_t row_stride, const float* h, float* out) {
    __shared__ float y[kMaxDecodeExperts];
    const int64_t r = blockIdx.x;
    const int warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
    for (int64_t j = warp; j < k; j += warps) {
        float d[1];
        row_dot<T, 1>(static_cast<const uint8_t*>(down[ids[j]]) + size_t(r) * row_stride, inter, h + j * inter, inter,
                      d);
        if (threadIdx.x % kWarp == 0) y[j] = d[0];
    }
    add_weighted_experts(y, weights, k, r, out);
}

}  // namespace

void route_top_k(const float* logits, int64_t n, int64_t n_experts, int64_t k, bool normalize, int32_t* ids,
                 float* weights, cudaStream_t stream) {
    check_non_negative("route_top_k", "n", n);
    if (n_experts <= 0 || n_experts > 12288)  // the probabilities live in 48 KiB of shared memory
        throw_error("route_top_k: " + std::to_string(n_experts) + " experts (1..12288)");
    if (k <= 0 || k > n_experts)
        throw_error("route_top_k: top " + std::to_string(k) + " of " + std::to_string(n_experts) + " experts");
    if (n == 0) return;
    route_top_k_kernel<<<unsigned(n), kWarp, size_t(n_experts) * sizeof(float), stream>>>(logits, n_experts, k,
                                                                                          normalize, ids, weights);
    SLUICE_CUDA_CHECK_LAUNCH("route_top_k_kernel");
}

void moe_decode(const MoeExpertTable& ex, const int32_t* ids, const float* weights, int64_t k, const float* x,
                float* out, float* scratch, cudaStream_t stream) {
    check_matrix("moe_decode (gate/up)", ex.gate_up_type, ex.inter, ex.hidden);
    check_matrix("moe_decode (down)", ex.down_type, ex.hidden, ex.inter);
    if (k <= 0 || k > kMaxDecodeExperts)
        throw_error("moe_decode: " + std::to_string(k) + " experts per token (1.." + std::to_string(kMaxDecodeExperts) +
                    ")");
    const size_t gate_up_stride = row_bytes(ex.gate_up_type, ex.hidden), down_stride = row_bytes(ex.down_type, ex.inter);
    dispatch_type(ex.gate_up_type, "moe_decode", [&](auto tag) {
        constexpr GgmlType T = decltype(tag)::value;
        const int w = row_units<T>(ex.hidden) >= 4 * kWarp ? 4 : 1;  // every thread given a unit at least
        const dim3 grid(unsigned((ex.inter * w + kMoeRowsPerBlock - 1) / kMoeRowsPerBlock), unsigned(k));
        if (w == 4)
            moe_gate_up_kernel<T, 4><<<grid, kMoeRowsPerBlock * kWarp, 0, stream>>>(ex.gate, ex.up, ids, ex.hidden,
                                                                                ex.inter, gate_up_stride, x, scratch);
        else
            moe_gate_up_kernel<T, 1><<<grid, kMoeRowsPerBlock * kWarp, 0, stream>>>(ex.gate, ex.up, ids, ex.hidden,
                                                                                ex.inter, gate_up_stride, x, scratch);
    });
    SLUICE_CUDA_CHECK_LAUNCH("moe_gate_up_kernel");
    dispatch_type(ex.down_type, "moe_decode", [&](auto tag) {
        const int warps = int(std::min<int64_t>(k, kMaxDownWarps));
        moe_down_kernel<decltype(tag)::value><<<unsigned(ex.hidden), warps * kWarp, 0, stream>>>(
            ex.down, ids, weights, k, ex.hidden, ex.inter, down_stride, scratch, out);
    });
    SLUICE_CUDA_CHECK_LAUNCH("moe_down_kernel");
}

}  // namespace sluice::cuda
