// Decode matrix × vector (and the same over up to 8 activation rows), reading weights as stored,
// for up to four weights that share the activations (decode's q, k and v) in one launch. Each
// row gets W warps (4 / W rows per 128-thread block): W = 1 for large matrices, more where a
// matrix has too few rows to fill the card, so that its few rows are not each one long serial
// walk (a decode step is mostly such small products).
#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/matvec_targets.cuh"
#include "cuda/row_dot.cuh"

namespace sluice::cuda {

namespace {

constexpr int kBlockWarps = 4;
constexpr int64_t kFewRows = 16384;  // fewer rows than this: split rows over warps

template <GgmlType T, int N, int W>
__global__ void matvec_kernel(MatvecTargets targets, size_t row_stride, int64_t cols, const float* x) {
    __shared__ float part[kBlockWarps][N];
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const int64_t g = int64_t(blockIdx.x) * (kBlockWarps / W) + warp / W;  // row of the launch
    const bool valid = g < targets.first[targets.count];
    int t = 0;
    while (t + 1 < targets.count && g >= targets.first[t + 1]) ++t;
    const int64_t r = g - targets.first[t];
    float acc[N];
    if (valid)
        lanes_row_dot<T, N>(targets.w[t] + size_t(r) * row_stride, cols, x, cols, int(threadIdx.x % (kWarp * W)),
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

bool has_kernel(GgmlType type) {
    switch (type) {
        case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q4_0: case GgmlType::Q4_1:
        case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q8_0: case GgmlType::Q2_K: case GgmlType::Q3_K:
        case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: case GgmlType::IQ4_NL: case GgmlType::IQ4_XS:
            return true;
        default:
            return false;
    }
}

void matvec_shared(GgmlType type, const MatvecTarget* targets, int count, int64_t cols, const float* x, int64_t n,
                   cudaStream_t stream) {
    const MatvecTargets t = make_matvec_targets("matvec", type, targets, count, cols, n);
    const int64_t rows = t.first[count];
    const size_t stride = row_bytes(type, cols);
    dispatch_type(type, "matvec", [&](auto type_tag) {
        constexpr GgmlType T = decltype(type_tag)::value;
        // Warps per row: as many as leave every thread at least one unit of the row.
        const int64_t units = row_units<T>(cols);
        const int w = rows >= kFewRows ? 1 : units >= 4 * kWarp ? 4 : units >= 2 * kWarp ? 2 : 1;
        dispatch_count(n, [&](auto count_tag) {
            constexpr int N = decltype(count_tag)::value;
            const unsigned grid = unsigned((rows * w + kBlockWarps - 1) / kBlockWarps);
            if (w == 4)
                matvec_kernel<T, N, 4><<<grid, kBlockWarps * kWarp, 0, stream>>>(t, stride, cols, x);
            else if (w == 2)
                matvec_kernel<T, N, 2><<<grid, kBlockWarps * kWarp, 0, stream>>>(t, stride, cols, x);
            else
                matvec_kernel<T, N, 1><<<grid, kBlockWarps * kWarp, 0, stream>>>(t, stride, cols, x);
        });
    });
    SLUICE_CUDA_CHECK_LAUNCH("matvec_kernel");
}

void matvec(GgmlType type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t n, float* y,
            cudaStream_t stream) {
    const MatvecTarget target{w, rows, y};
    matvec_shared(type, &target, 1, cols, x, n, stream);
}

}  // namespace sluice::cuda
