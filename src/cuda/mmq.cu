// Prefill products on int8 tensor cores (llama.cpp's mmq): Y[t, r] = X[t] · W[r] for quantised
// activations X (quantize_q8.cu) and weights read as stored, for many groups of tokens at once
// (every expert of a MoE layer in one launch, each group of tokens with its own weight). A thread
// block computes a 64-row × 32-token tile in the phases of mmq_tile.h, which says how; each output
// equals the portable CPU dot of the same quantised operands bit for bit (tests/cuda/mmq_test.cpp,
// and tests/kernels/cuda_mmq_tile_test.cpp on the CPU with the tensor-core product emulated).
#include <cstdint>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/mmq_tile.h"

namespace sluice::cuda {

namespace {

using namespace mmq_tile;

// D[16 × 8] += A[16 × 16] · B[16 × 8] in int32. a0: row g, bytes 4q..4q+3; a1: row g + 8; b:
// column g, bytes 4q..4q+3; d0, d1: row g, columns 2q, 2q + 1; d2, d3: row g + 8 (g = lane / 4,
// q = lane % 4; PTX ISA, mma.m16n8k16 integer fragments).
__device__ inline void mma_s8(int (&d)[4], int a0, int a1, int b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(b));
#else
    __trap();  // the build targets sm_80 and newer (SLUICE_CUDA_ARCHS)
#endif
}

// The lane's fragments of rows r_lo, r_lo + 8 and tokens 8j.. at values k0..k0+15, multiplied.
struct TensorCoreMma {
    __device__ void operator()(int (&d)[4], const Shared& sh, int r_lo, int j, int k0) const {
        const int lane = threadIdx.x % kWarpLanes, g = lane / 4, q = lane % 4;
        const int a0 = *reinterpret_cast<const int*>(&sh.w[r_lo][k0 + 4 * q]);
        const int a1 = *reinterpret_cast<const int*>(&sh.w[r_lo + 8][k0 + 4 * q]);
        const int b = *reinterpret_cast<const int*>(&sh.x[8 * j + g][k0 + 4 * q]);
        mma_s8(d, a0, a1, b);
    }
};

__device__ inline Span tile_span(const void* const* weights, const void* weight, const MmqTile* tiles, int64_t n,
                                 int64_t tile) {
    if (tiles) {
        const MmqTile& t = tiles[tile];
        return {static_cast<const uint8_t*>(weights[t.weight]), t.first, t.count};
    }
    const int64_t first = tile * kTokens;
    return {static_cast<const uint8_t*>(weight), first, int(n - first < kTokens ? n - first : kTokens)};
}

template <GgmlType T>
__global__ void __launch_bounds__(kThreads) mmq_kernel(const void* const* weights, const void* weight,
                                                       const MmqTile* tiles, int64_t n, int64_t rows, int64_t cols,
                                                       size_t row_stride, const typename q8::Q8Unit<T>::Act* x,
                                                       float* y) {
    __shared__ Shared sh;
    const Span span = tile_span(weights, weight, tiles, n, blockIdx.y);
    const int64_t row0 = int64_t(blockIdx.x) * kRows, blocks = cols / q8::Q8Unit<T>::kValues;
    const int steps = int((cols + kStep - 1) / kStep);
    const int warp = threadIdx.x / kWarpLanes, lane = threadIdx.x % kWarpLanes;
    float acc[4][4];
    for (int j = 0; j < 4; ++j)
        for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;
    for (int s = 0; s < steps; ++s) {
        __syncthreads();  // the previous step's reads of shared memory are done
        load_step<T>(sh, span, x, row_stride, rows, blocks, row0, s, threadIdx.x);
        __syncthreads();
        compute_step<T>(sh, blocks, s, warp, lane, acc, TensorCoreMma{});
    }
    store_outputs(acc, span, rows, row0, warp, lane, y);
}

}  // namespace

bool has_mmq_kernel(GgmlType type) {
    bool found = false;
    dispatch_mmq_type(type, "mmq", [&](auto) { found = true; }, [] {});
    return found;
}

std::vector<MmqTile> mmq_tiles(const std::vector<int32_t>& weight, const std::vector<int64_t>& first,
                               const std::vector<int64_t>& count) {
    std::vector<MmqTile> tiles;
    for (size_t i = 0; i < weight.size(); ++i)
        for (int64_t t0 = 0; t0 < count[i]; t0 += kTokens)
            tiles.push_back({weight[i], int32_t(first[i] + t0), int32_t(count[i] - t0 < kTokens ? count[i] - t0 : kTokens)});
    return tiles;
}

void mmq(GgmlType type, const void* const* weights, const void* weight, const MmqTile* tiles, int64_t n_tiles,
         int64_t n, int64_t rows, int64_t cols, const void* xq, float* y, cudaStream_t stream) {
    check_matrix("mmq", type, rows, cols);
    if (!has_mmq_kernel(type)) throw_no_kernel("mmq", type);
    if (tiles && !weights) throw_error("mmq: tiles given without their weights");
    if (!tiles) {
        check_positive("mmq", "tokens", n);
        n_tiles = (n + kTokens - 1) / kTokens;
    }
    if (n_tiles <= 0) return;
    if (n_tiles > 65535) throw_error("mmq: " + std::to_string(n_tiles) + " token tiles in one launch (at most 65535)");
    const size_t stride = row_bytes(type, cols);
    const dim3 grid(unsigned((rows + kRows - 1) / kRows), unsigned(n_tiles));
    dispatch_mmq_type(type, "mmq", [&](auto tag) {
        constexpr GgmlType T = decltype(tag)::value;
        mmq_kernel<T><<<grid, kThreads, 0, stream>>>(weights, weight, tiles, n, rows, cols, stride,
                                                     static_cast<const typename q8::Q8Unit<T>::Act*>(xq), y);
    });
    SLUICE_CUDA_CHECK_LAUNCH("mmq_kernel");
}

}  // namespace sluice::cuda
