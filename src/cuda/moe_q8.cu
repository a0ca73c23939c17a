// The decode MoE of moe.cu on 8-bit activations: x quantised once, each chosen expert's gate and
// up rows as integer dot products (dp4a) with it, silu(g)·u quantised again (one row per expert),
// then the down rows likewise and the k outputs summed in the order of j. Geometry as moe.cu.
#include <algorithm>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/moe_decode.cuh"
#include "cuda/reduce.cuh"
#include "cuda/row_dot_q8.cuh"

namespace sluice::cuda {

namespace {

constexpr int kMaxDownWarps = 8;

// Block (row tile, j): W warps → row r of expert ids[j]'s gate and up; h[j, r] = silu(g)·u.
template <GgmlType T, int W>
__global__ void moe_gate_up_q8_kernel(const void* const* gate, const void* const* up, const int32_t* ids,
                                      int64_t blocks, int64_t inter, size_t row_stride,
                                      const typename q8::Q8Unit<T>::Act* x, float* h) {
    __shared__ float part[kMoeRowsPerBlock][2];
    const int warp = threadIdx.x / kWarp;
    const int64_t r = int64_t(blockIdx.x) * (kMoeRowsPerBlock / W) + warp / W;
    const bool valid = r < inter;
    float g[1] = {0.0f}, u[1] = {0.0f};
    if (valid) {
        const int e = ids[blockIdx.y], l = int(threadIdx.x % (kWarp * W));
        lanes_row_dot_q8<T, 1>(static_cast<const uint8_t*>(gate[e]) + size_t(r) * row_stride, blocks, x, l, kWarp * W, g);
        lanes_row_dot_q8<T, 1>(static_cast<const uint8_t*>(up[e]) + size_t(r) * row_stride, blocks, x, l, kWarp * W, u);
    }
    store_swiglu_row<W>(g[0], u[0], valid, r, inter, part, h);
}

// Block → output row r, warp w → experts j = w, w + warps, …, each against its own quantised h
// row; then Σ_j weights[j] · y_j in the order of j.
template <GgmlType T>
__global__ void moe_down_q8_kernel(const void* const* down, const int32_t* ids, const float* weights, int64_t k,
                                   int64_t blocks, size_t row_stride, const typename q8::Q8Unit<T>::Act* h,
                                   float* out) {
    __shared__ float y[kMaxDecodeExperts];
    const int64_t r = blockIdx.x;
    const int warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
    for (int64_t j = warp; j < k; j += warps) {
        float d[1];
        lanes_row_dot_q8<T, 1>(static_cast<const uint8_t*>(down[ids[j]]) + size_t(r) * row_stride, blocks,
                               h + j * blocks, int(threadIdx.x % kWarp), kWarp, d);
        d[0] = warp_sum(d[0]);
        if (threadIdx.x % kWarp == 0) y[j] = d[0];
    }
    add_weighted_experts(y, weights, k, r, out);
}

size_t aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

size_t moe_decode_q8_scratch_bytes(const MoeExpertTable& ex, int64_t k) {
    return aligned(q8_activation_bytes(ex.gate_up_type, 1, ex.hidden)) + aligned(size_t(k * ex.inter) * sizeof(float)) +
           aligned(q8_activation_bytes(ex.down_type, k, ex.inter));
}

void moe_decode_q8(const MoeExpertTable& ex, const int32_t* ids, const float* weights, int64_t k, const float* x,
                   const void* xq_given, float* out, void* scratch, cudaStream_t stream) {
    check_matrix("moe_decode_q8 (gate/up)", ex.gate_up_type, ex.inter, ex.hidden);
    check_matrix("moe_decode_q8 (down)", ex.down_type, ex.hidden, ex.inter);
    if (k <= 0 || k > kMaxDecodeExperts)
        throw_error("moe_decode_q8: " + std::to_string(k) + " experts per token (1.." +
                    std::to_string(kMaxDecodeExperts) + ")");
    auto* own = static_cast<uint8_t*>(scratch);  // x quantised here when not given
    auto* h = reinterpret_cast<float*>(own + aligned(q8_activation_bytes(ex.gate_up_type, 1, ex.hidden)));
    auto* hq = reinterpret_cast<uint8_t*>(h) + aligned(size_t(k * ex.inter) * sizeof(float));
    const void* xq = xq_given;
    if (!xq) {
        quantize_activations(ex.gate_up_type, x, 1, ex.hidden, own, stream);
        xq = own;
    }
    const size_t gate_up_stride = row_bytes(ex.gate_up_type, ex.hidden), down_stride = row_bytes(ex.down_type, ex.inter);
    dispatch_q8_type(ex.gate_up_type, "moe_decode_q8", [&](auto tag) {
        constexpr GgmlType T = decltype(tag)::value;
        using Unit = q8::Q8Unit<T>;
        const int64_t blocks = ex.hidden / Unit::kValues;
        const auto* xa = reinterpret_cast<const typename Unit::Act*>(xq);
        // Warps a row: as many as leave every thread a unit at least (a 2048-wide Q4_K row has 64).
        const int64_t units = blocks * Unit::kUnits;
        const int w = units >= 4 * kWarp ? 4 : units >= 2 * kWarp ? 2 : 1;
        const dim3 grid(unsigned((ex.inter * w + kMoeRowsPerBlock - 1) / kMoeRowsPerBlock), unsigned(k));
        if (w == 4)
            moe_gate_up_q8_kernel<T, 4><<<grid, kMoeRowsPerBlock * kWarp, 0, stream>>>(ex.gate, ex.up, ids, blocks, ex.inter,
                                                                                   gate_up_stride, xa, h);
        else if (w == 2)
            moe_gate_up_q8_kernel<T, 2><<<grid, kMoeRowsPerBlock * kWarp, 0, stream>>>(ex.gate, ex.up, ids, blocks, ex.inter,
                                                                                   gate_up_stride, xa, h);
        else
            moe_gate_up_q8_kernel<T, 1><<<grid, kMoeRowsPerBlock * kWarp, 0, stream>>>(ex.gate, ex.up, ids, blocks, ex.inter,
                                                                                   gate_up_stride, xa, h);
    });
    SLUICE_CUDA_CHECK_LAUNCH("moe_gate_up_q8_kernel");
    quantize_activations(ex.down_type, h, k, ex.inter, hq, stream);
    dispatch_q8_type(ex.down_type, "moe_decode_q8", [&](auto tag) {
        constexpr GgmlType T = decltype(tag)::value;
        using Unit = q8::Q8Unit<T>;
        const int warps = int(std::min<int64_t>(k, kMaxDownWarps));
        moe_down_q8_kernel<T><<<unsigned(ex.hidden), warps * kWarp, 0, stream>>>(
            ex.down, ids, weights, k, ex.inter / Unit::kValues, down_stride,
            reinterpret_cast<const typename Unit::Act*>(hq), out);
    });
    SLUICE_CUDA_CHECK_LAUNCH("moe_down_q8_kernel");
}

}  // namespace sluice::cuda
