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

template <GgmlType T, int N, int W>
__global__ void matvec_q8_kernel(MatvecTargets targets, size_t row_stride, int64_t blocks,
                                 const typename q8::Q8Unit<T>::Act* x) {
    __shared__ float part[kMatvecBlockWarps][N];
    const MatvecRow p = matvec_row<W>(targets);
    float acc[N];
    if (p.valid)
        lanes_row_dot_q8<T, N>(targets.w[p.t] + size_t(p.r) * row_stride, blocks, x, int(threadIdx.x % (kWarp * W)),
                               kWarp * W, acc);
    else
        for (int j = 0; j < N; ++j) acc[j] = 0.0f;
    store_matvec_row<N, W>(acc, p, part, targets);
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
        const auto* x = static_cast<const typename Unit::Act*>(xq);
        dispatch_count(n, [&](auto count_tag) {
            constexpr int N = decltype(count_tag)::value;
            dispatch_matvec_warps(rows, units, [&](auto warps, unsigned grid) {
                matvec_q8_kernel<T, N, decltype(warps)::value>
                    <<<grid, kMatvecBlockWarps * kWarp, 0, stream>>>(t, stride, blocks, x);
            });
        });
    });
    SLUICE_CUDA_CHECK_LAUNCH("matvec_q8_kernel");
}

}  // namespace sluice::cuda
