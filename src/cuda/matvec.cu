// Decode matrix × vector (and the same over up to 8 activation rows), reading weights as stored:
// one warp per weight row, kRowsPerBlock rows per thread block.
#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/row_dot.cuh"

namespace sluice::cuda {

namespace {

constexpr int kRowsPerBlock = 4;

template <GgmlType T, int N>
__global__ void matvec_kernel(const uint8_t* w, size_t row_stride, int64_t rows, int64_t cols, const float* x,
                              float* y) {
    const int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
    if (r >= rows) return;  // the whole warp leaves together
    float acc[N];
    row_dot<T, N>(w + size_t(r) * row_stride, cols, x, cols, acc);
    if (threadIdx.x % kWarp == 0)
        for (int j = 0; j < N; ++j) y[j * rows + r] = acc[j];
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

void matvec(GgmlType type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t n, float* y,
            cudaStream_t stream) {
    check_matrix("matvec", type, rows, cols);
    if (n < 1 || n > kMaxMatvecRows)
        throw_error("matvec: " + std::to_string(n) + " activation rows (1.." + std::to_string(kMaxMatvecRows) + ")");
    const size_t stride = row_bytes(type, cols);
    const dim3 grid(unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock));
    dispatch_type(type, "matvec", [&](auto type_tag) {
        dispatch_count(n, [&](auto count_tag) {
            matvec_kernel<decltype(type_tag)::value, decltype(count_tag)::value>
                <<<grid, kRowsPerBlock * kWarp, 0, stream>>>(static_cast<const uint8_t*>(w), stride, rows, cols, x, y);
        });
    });
    SLUICE_CUDA_CHECK_LAUNCH("matvec_kernel");
}

}  // namespace sluice::cuda
