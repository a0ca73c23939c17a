// Dot products of a weight row with N activation rows (N = 1 for decode, up to 8 for the tokens
// an expert sees), reading the row's blocks as stored: of L threads on a row, thread i decodes
// chunks i, i + L, ... (block_decode.cuh), so they read consecutive bytes of the row together.
// Accumulation in float.
#pragma once
#include "cuda/block_decode.cuh"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

// acc[j] = this thread's part of Σ_i W[row, i] · x[j·x_stride + i] for j < N, the row's units
// dealt to `lanes` threads (lane = this thread's place among them); cols a multiple of the block
// size, x 16-byte aligned and x_stride a multiple of 4 (activation rows of whole blocks always are).
template <GgmlType T, int N>
__device__ inline void lane_row_dot(const void* row, int64_t cols, const float* x, int64_t x_stride, int lane, int lanes,
                                    float (&acc)[N]) {
    using Codec = BlockCodec<T>;
    const auto* blocks = static_cast<const typename Codec::Block*>(row);
    const int64_t units = cols / Codec::kValues * Codec::kChunks;
    for (int j = 0; j < N; ++j) acc[j] = 0.0f;
    for (int64_t u = lane; u < units; u += lanes) {
        const int64_t blk = u / Codec::kChunks;
        const Chunk8 c = Codec::decode(blocks[blk], int(u % Codec::kChunks));
        const int64_t base = blk * Codec::kValues;
        for (int j = 0; j < N; ++j) {
            // a and b are multiples of 4 in every codec: two 16-byte loads instead of eight.
            const float4 a4 = *reinterpret_cast<const float4*>(x + j * x_stride + base + c.a);
            const float4 b4 = *reinterpret_cast<const float4*>(x + j * x_stride + base + c.b);
            const float xa[4] = {a4.x, a4.y, a4.z, a4.w}, xb[4] = {b4.x, b4.y, b4.z, b4.w};
            float s = acc[j];
            for (int i = 0; i < 4; ++i) s += c.v[i] * xa[i] + c.v[4 + i] * xb[i];
            acc[j] = s;
        }
    }
}

// The same for the float types (any cols).
template <GgmlType T, int N>
__device__ inline void lane_row_dot_float(const void* row, int64_t cols, const float* x, int64_t x_stride, int lane,
                                          int lanes, float (&acc)[N]) {
    for (int j = 0; j < N; ++j) acc[j] = 0.0f;
    for (int64_t i = lane; i < cols; i += lanes) {
        const float w = load_float_value<T>(row, i);
        for (int j = 0; j < N; ++j) acc[j] += w * x[j * x_stride + i];
    }
}

template <GgmlType T>
inline constexpr bool kIsFloatType = T == GgmlType::F32 || T == GgmlType::F16 || T == GgmlType::BF16;

// Units a row of `cols` values is dealt out in (chunks of eight values, or single float values).
template <GgmlType T>
__host__ __device__ inline int64_t row_units(int64_t cols) {
    if constexpr (kIsFloatType<T>)
        return cols;
    else
        return cols / BlockCodec<T>::kValues * BlockCodec<T>::kChunks;
}

template <GgmlType T, int N>
__device__ inline void lanes_row_dot(const void* row, int64_t cols, const float* x, int64_t x_stride, int lane,
                                     int lanes, float (&acc)[N]) {
    if constexpr (kIsFloatType<T>)
        lane_row_dot_float<T, N>(row, cols, x, x_stride, lane, lanes, acc);
    else
        lane_row_dot<T, N>(row, cols, x, x_stride, lane, lanes, acc);
}

// One warp's whole dot products: the result is in every lane.
template <GgmlType T, int N>
__device__ inline void row_dot(const void* row, int64_t cols, const float* x, int64_t x_stride, float (&acc)[N]) {
    lanes_row_dot<T, N>(row, cols, x, x_stride, int(threadIdx.x % kWarp), kWarp, acc);
    for (int j = 0; j < N; ++j) acc[j] = warp_sum(acc[j]);
}

}  // namespace sluice::cuda
