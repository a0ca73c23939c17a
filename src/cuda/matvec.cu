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

template <GgmlType T, int N, int W>
__global__ void matvec_kernel(MatvecTargets targets, size_t row_stride, int64_t cols, const float* x) {
    __shared__ float part[kMatvecBlockWarps][N];
    const MatvecRow p = matvec_row<W>(targets);
    float acc[N];
    if (p.valid)
        lanes_row_dot<T, N>(targets.w[p.t] + size_t(p.r) * row_stride, cols, x, cols, int(threadIdx.x % (kWarp * W)),
                            kWarp * W, acc);
    else
        for (int j = 0; j < N; ++j) acc[j] = 0.0f;
    store_matvec_row<N, W>(acc, p, part, targets);
}

}  // namespace

bool has_kernel(GgmlType type) {
    switch (type) {
        case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q4_0: case GgmlType::Q4_1:
        case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q8_0: case GgmlType::Q2_K: case GgmlType::Q3_K:
        case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: case GgmlType::IQ4_NL: case GgmlType::IQ4_XS:
        case GgmlType::IQ2_XXS: case GgmlType::IQ2_XS: case GgmlType::IQ2_S: case GgmlType::IQ3_XXS: case GgmlType::IQ3_S:
        case GgmlType::IQ1_S: case GgmlType::IQ1_M:
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
        dispatch_count(n, [&](auto count_tag) {
            constexpr int N = decltype(count_tag)::value;
            dispatch_matvec_warps(rows, row_units<T>(cols), [&](auto warps, unsigned grid) {
                matvec_kernel<T, N, decltype(warps)::value>
                    <<<grid, kMatvecBlockWarps * kWarp, 0, stream>>>(t, stride, cols, x);
            });
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
