// Weight rows to float32 (embedding lookup, prefill's cuBLAS input): one thread per 8-value chunk
// of a quantised row, or per value of a float row.
#include "cuda/dequantize.h"
#include "cuda/dispatch.cuh"
#include "cuda/row_dot.cuh"

namespace sluice::cuda {

namespace {

constexpr int kThreads = 256;

// Output row t is weight row ids[t], or row t without ids.
template <GgmlType T>
__global__ void dequantize_kernel(const uint8_t* w, size_t row_stride, int64_t cols, const int32_t* ids, int64_t n,
                                  float* dst) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if constexpr (kIsFloatType<T>) {
        if (i >= n * cols) return;
        const int64_t t = i / cols, row = ids ? ids[t] : t;
        dst[i] = load_float_value<T>(w + size_t(row) * row_stride, i % cols);
    } else {
        using Codec = BlockCodec<T>;
        const int64_t units = cols / Codec::kValues * Codec::kChunks;
        if (i >= n * units) return;
        const int64_t t = i / units, u = i % units, blk = u / Codec::kChunks;
        const int64_t row = ids ? ids[t] : t;
        const auto* blocks = reinterpret_cast<const typename Codec::Block*>(w + size_t(row) * row_stride);
        const Chunk8 c = Codec::decode(blocks[blk], int(u % Codec::kChunks));
        float* o = dst + t * cols + blk * Codec::kValues;
        for (int j = 0; j < 4; ++j) {
            o[c.a + j] = c.v[j];
            o[c.b + j] = c.v[4 + j];
        }
    }
}

void launch_dequantize(const char* op, GgmlType type, const void* w, int64_t cols, const int32_t* ids, int64_t n,
                       float* dst, cudaStream_t stream) {
    check_matrix(op, type, 1, cols);
    if (n < 0) throw_error(std::string(op) + ": " + std::to_string(n) + " rows");
    if (n == 0) return;
    const size_t stride = row_bytes(type, cols);
    dispatch_type(type, op, [&](auto type_tag) {
        constexpr GgmlType T = decltype(type_tag)::value;
        int64_t threads = n * cols;
        if constexpr (!kIsFloatType<T>) threads = n * (cols / BlockCodec<T>::kValues * BlockCodec<T>::kChunks);
        const unsigned blocks = unsigned((threads + kThreads - 1) / kThreads);
        dequantize_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<const uint8_t*>(w), stride, cols, ids, n, dst);
    });
    SLUICE_CUDA_CHECK_LAUNCH("dequantize_kernel");
}

}  // namespace

void dequantize_rows(GgmlType type, const void* w, int64_t cols, const int32_t* ids, int64_t n, float* dst,
                     cudaStream_t stream) {
    launch_dequantize("dequantize_rows", type, w, cols, ids, n, dst, stream);
}

void dequantize_rows_to_float(GgmlType type, const void* w, int64_t rows, int64_t cols, float* dst, cudaStream_t stream) {
    launch_dequantize("dequantize_rows_to_float", type, w, cols, nullptr, rows, dst, stream);
}

}  // namespace sluice::cuda
