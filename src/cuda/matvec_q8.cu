// Decode matrix × vector on 8-bit activations (llama.cpp's mmvq): the activation rows are
// quantised once (quantize_q8.cu) and every 32-value unit of a weight row is an integer dot
// product (dp4a) scaled in float (q8_arith.h unit_term). Geometry as matvec.cu: W warps a row,
// 4 / W rows a 128-thread block, up to four weights sharing the activations in one launch.
#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/matvec_targets.cuh"
#include "cuda/reduce.cuh"
#include "cuda/row_dot_q8.cuh"

namespace sluice::cuda {

namespace {

constexpr int kBlockWarps = 4;
constexpr int64_t kFewRows = 16384;  // fewer rows than this: split rows over warps (as matvec.cu)

template <GgmlType T, int N, int W>
__global__ void matvec_q8_kernel(MatvecTargets targets, size_t row_stride, int64_t blocks,
                                 const typename q8::Q8Unit<T>::Act* x) {
    __shared__ float part[kBlockWarps][N];
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const int64_t g = int64_t(blockIdx.x) * (kBlockWarps / W) + warp / W;  // row of the launch
    const bool valid = g < targets.first[targets.count];
    int t = 0;
    while (t + 1 < targets.count && g >= targets.first[t + 1]) ++t;
    const int64_t r = g - targets.first[t];
    float acc[N];
    if (valid)
        lanes_row_dot_q8<T, N>(targets.w[t] + size_t(r) * row_stride, blocks, x, int(threadIdx.x % (kWarp * W)),
                               kWarp * W, acc);
    else
        for (int j = 0; j < N; ++j) acc[j] = 0.0f;
    for (int j = 0; j < N; ++j) acc[j] = warp_sum(acc[j]);
    if constexpr (W == 1) {
        if (valid && lane == 0)
            for (int j = 0; j < N; ++j) targets.y[t][j * targets.rows[t] + r] = acc[j];
    } else {
        if (lane == 0)
            for (int j = 0; j < N; ++j) part[warp][j] = acc[j];
        __syncthreads();
        if (valid && lane == 0 && warp % W == 0)
            for (int j = 0; j < N; ++j) {
                float s = part[warp][j];
                for (int v = 1; v < W; ++v) s += part[warp + v][j];
                targets.y[t][j * targets.rows[t] + r] = s;
            }
    }
}

}  // namespace

void matvec_q8(GgmlType type, const MatvecTarget* targets, int count, int64_t cols, const void* xq, int64_t n,
               cudaStream_t stream) {
    const MatvecTargets t = make_matvec_targets("matvec_q8", type, targets, count, cols, n);
    const int64_t rows = t.first[count];
    const size_t stride = row_bytes(type, cols);
    dispatch_q8_type(type, "matvec_q8", [&](auto type_tag) {
        constexpr GgmlType T = decltype(type_tag)::value;
        using Unit = q8::Q8Unit<T>;
        const int64_t blocks = cols / Unit::kValues, units = blocks * Unit::kUnits;
        const int w = rows >= kFewRows ? 1 : units >= 4 * kWarp ? 4 : units >= 2 * kWarp ? 2 : 1;
        const auto* x = static_cast<const typename Unit::Act*>(xq);
        dispatch_count(n, [&](auto count_tag) {
            constexpr int N = decltype(count_tag)::value;
            const unsigned grid = unsigned((rows * w + kBlockWarps - 1) / kBlockWarps);
            if (w == 4)
                matvec_q8_kernel<T, N, 4><<<grid, kBlockWarps * kWarp, 0, stream>>>(t, stride, blocks, x);
            else if (w == 2)
                matvec_q8_kernel<T, N, 2><<<grid, kBlockWarps * kWarp, 0, stream>>>(t, stride, blocks, x);
            else
                matvec_q8_kernel<T, N, 1><<<grid, kBlockWarps * kWarp, 0, stream>>>(t, stride, blocks, x);
        });
    });
    SLUICE_CUDA_CHECK_LAUNCH("matvec_q8_kernel");
}

}  // namespace sluice::cuda
