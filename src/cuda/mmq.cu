// Prefill products on int8 tensor cores (llama.cpp's mmq): Y[t, r] = X[t] · W[r] for quantised
// activations X (quantize_q8.cu) and weights read as stored, for many groups of tokens at once
// (every expert of a MoE layer in one launch, each group of tokens with its own weight).
//
// A thread block computes a 64-row × 32-token tile, one step of 256 values at a time: its
// threads decode the 64 weight rows' levels, scales and factors and copy the 32 tokens'
// quantised values into shared memory; then each of the four warps multiplies its 16 rows with
// the 32 tokens by mma.sync m16n8k16 (s8 × s8 → s32: exact integer sums of 16 values), scales
// each 16-value sum by its integer sub-block scale, and scales the step's integer sums in float
// exactly as the portable CPU kernel scales a block (q8_arith.h). Each output is accumulated by
// one thread over the steps in order, so it equals the portable CPU dot of the same quantised
// operands bit for bit (tests/cuda/mmq_test.cpp).
#include <cstdint>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/q8_arith.h"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

namespace {

constexpr int kRows = 64, kTokens = 32, kThreads = 128;
constexpr int kStep = 256;             // values per step: one K-quant super-block, eight Q8_0 blocks
constexpr int kUnitsPerStep = kStep / 32;
constexpr int kGroups = kStep / 16;    // 16-value groups per step (one mma's k)
constexpr int kPitch = kStep + 16;     // bytes per shared row: 68 words, so the 8 rows × 4 words an mma reads fall in 32 banks

// D[16 × 8] += A[16 × 16] · B[16 × 8] in int32. a0: row g, bytes 4t..4t+3; a1: row g + 8; b:
// column g, bytes 4t..4t+3; d0, d1: row g, columns 2t, 2t + 1; d2, d3: row g + 8 (g = lane / 4,
// t = lane % 4; PTX ISA, mma.m16n8k16 integer fragments).
__device__ inline void mma_s8(int (&d)[4], int a0, int a1, int b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%0, %1, %2, %3};"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(b));
#else
    __trap();  // the build targets sm_80 and newer (SLUICE_CUDA_ARCHS)
#endif
}

struct Shared {
    int8_t w[kRows][kPitch];         // weight levels of the step
    int8_t x[kTokens][kPitch];       // activation levels of the step
    int w_scale[kRows][kGroups + 1]; // integer scale of each 16 values (+1: no bank conflicts)
    int w_min[kRows][kUnitsPerStep]; // Q4_K / Q5_K minimum of each 32 values
    float w_d[kRows][kUnitsPerStep]; // K-quants: d, dmin; Q8_0: d of each block
    int x_sum[kTokens][kGroups + 1]; // Q8_K: Σ of each 16 activation levels
    float x_d[kTokens][kUnitsPerStep];  // Q8_K: d; Q8_0: d of each block
};

__device__ inline void store_words(int8_t* dst, const int (&q)[8]) {
    for (int i = 0; i < 8; ++i) reinterpret_cast<int*>(dst)[i] = q[i];
}

// Weight row r's unit j of step s into shared memory (zeros past the rows or the blocks).
template <GgmlType T>
__device__ inline void load_weight_unit(Shared& sh, const uint8_t* w, size_t row_stride, int64_t rows, int64_t blocks,
                                        int64_t row0, int s, int r, int j) {
    using Unit = q8::Q8Unit<T>;
    int q[8] = {};
    const int64_t row = row0 + r;
    if constexpr (T == GgmlType::Q8_0) {
        const int64_t b = int64_t(s) * kUnitsPerStep + j;
        float d = 0.0f;
        if (row < rows && b < blocks) {
            const auto& blk = reinterpret_cast<const typename Unit::Block*>(w + size_t(row) * row_stride)[b];
            Unit::levels(blk, 0, q);
            d = q8::half_to_float(blk.d);
        }
        store_words(sh.w[r] + 32 * j, q);
        sh.w_d[r][j] = d;
    } else {
        int sc[2] = {0, 0}, m = 0;
        if (row < rows) {
            const auto& blk = reinterpret_cast<const typename Unit::Block*>(w + size_t(row) * row_stride)[s];
            Unit::levels(blk, j, q);
            Unit::scales(blk, j, sc, m);
            if (j == 0) {
                sh.w_d[r][0] = q8::half_to_float(blk.d);
                if constexpr (T != GgmlType::Q6_K) sh.w_d[r][1] = q8::half_to_float(blk.dmin);
            }
        } else if (j == 0) {
            sh.w_d[r][0] = sh.w_d[r][1] = 0.0f;
        }
        store_words(sh.w[r] + 32 * j, q);
        sh.w_scale[r][2 * j] = sc[0];
        sh.w_scale[r][2 * j + 1] = sc[1];
        sh.w_min[r][j] = m;
    }
}

// Token t's unit j of step s (zeros past the tile's tokens or the blocks).
template <GgmlType T>
__device__ inline void load_activation_unit(Shared& sh, const typename q8::Q8Unit<T>::Act* x, int64_t blocks,
                                            int64_t first, int count, int s, int t, int j) {
    int q[8] = {};
    if constexpr (T == GgmlType::Q8_0) {
        const int64_t b = int64_t(s) * kUnitsPerStep + j;
        float d = 0.0f;
        if (t < count && b < blocks) {
            const q8::ActQ8_0& a = x[(first + t) * blocks + b];
            for (int i = 0; i < 8; ++i) q[i] = q8::load4(a.qs + 4 * i);
            d = a.d;
        }
        store_words(sh.x[t] + 32 * j, q);
        sh.x_d[t][j] = d;
    } else {
        int sums[2] = {0, 0};
        float d = 0.0f;
        if (t < count) {
            const BlockQ8_K& a = x[(first + t) * blocks + s];
            for (int i = 0; i < 8; ++i) q[i] = q8::load4(a.qs + 32 * j + 4 * i);
            sums[0] = a.bsums[2 * j];
            sums[1] = a.bsums[2 * j + 1];
            d = a.d;
        }
        store_words(sh.x[t] + 32 * j, q);
        sh.x_sum[t][2 * j] = sums[0];
        sh.x_sum[t][2 * j + 1] = sums[1];
        if (j == 0) sh.x_d[t][0] = d;
    }
}

// The tile of tokens a thread block works on.
struct TileSpan {
    const uint8_t* w;
    int64_t first;
    int count;
};

__device__ inline TileSpan tile_span(const void* const* weights, const void* weight, const MmqTile* tiles, int64_t n,
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
    using Unit = q8::Q8Unit<T>;
    __shared__ Shared sh;
    const TileSpan span = tile_span(weights, weight, tiles, n, blockIdx.y);
    const int64_t row0 = int64_t(blockIdx.x) * kRows;
    const int64_t blocks = cols / Unit::kValues;
    const int steps = int((cols + kStep - 1) / kStep);
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, g = lane / 4, tq = lane % 4;

    // Outputs of this thread: rows 16·warp + g (+8), tokens 8·nt + 2·tq (+1), nt < 4.
    float acc[4][4];
    for (int nt = 0; nt < 4; ++nt)
        for (int e = 0; e < 4; ++e) acc[nt][e] = 0.0f;

    for (int s = 0; s < steps; ++s) {
        __syncthreads();  // the previous step's reads of shared memory are done
        for (int task = threadIdx.x; task < kRows * kUnitsPerStep; task += kThreads)
            load_weight_unit<T>(sh, span.w, row_stride, rows, blocks, row0, s, task / kUnitsPerStep, task % kUnitsPerStep);
        for (int task = threadIdx.x; task < kTokens * kUnitsPerStep; task += kThreads)
            load_activation_unit<T>(sh, x, blocks, span.first, span.count, s, task / kUnitsPerStep, task % kUnitsPerStep);
        __syncthreads();

        const int r_lo = 16 * warp + g, r_hi = r_lo + 8;
        if constexpr (T == GgmlType::Q8_0) {
            // One block (two mma k-steps) at a time, scaled and added in block order.
            const int valid = int(blocks - int64_t(s) * kUnitsPerStep < kUnitsPerStep ? blocks - int64_t(s) * kUnitsPerStep
                                                                                        : kUnitsPerStep);
            for (int j = 0; j < valid; ++j) {
                int dot[4][4] = {};
                for (int half = 0; half < 2; ++half) {
                    const int k0 = 32 * j + 16 * half + 4 * tq;
                    const int a0 = *reinterpret_cast<const int*>(&sh.w[r_lo][k0]);
                    const int a1 = *reinterpret_cast<const int*>(&sh.w[r_hi][k0]);
                    for (int nt = 0; nt < 4; ++nt)
                        mma_s8(dot[nt], a0, a1, *reinterpret_cast<const int*>(&sh.x[8 * nt + g][k0]));
                }
                for (int nt = 0; nt < 4; ++nt)
                    for (int e = 0; e < 4; ++e) {
                        const int r = e < 2 ? r_lo : r_hi, t = 8 * nt + 2 * tq + e % 2;
                        acc[nt][e] = q8::add_rn(acc[nt][e], q8::q8_0_scale(sh.w_d[r][j], sh.x_d[t][j], dot[nt][e]));
                    }
            }
        } else {
            // The step's integer sum Σ_groups scale·(levels·x), as the CPU's per-block sum.
            int scaled[4][4] = {};
            for (int gr = 0; gr < kGroups; ++gr) {
                const int k0 = 16 * gr + 4 * tq;
                const int a0 = *reinterpret_cast<const int*>(&sh.w[r_lo][k0]);
                const int a1 = *reinterpret_cast<const int*>(&sh.w[r_hi][k0]);
                const int sc_lo = sh.w_scale[r_lo][gr], sc_hi = sh.w_scale[r_hi][gr];
                for (int nt = 0; nt < 4; ++nt) {
                    int dot[4] = {0, 0, 0, 0};
                    mma_s8(dot, a0, a1, *reinterpret_cast<const int*>(&sh.x[8 * nt + g][k0]));
                    for (int e = 0; e < 4; ++e) {
                        if constexpr (T == GgmlType::Q6_K)
                            dot[e] -= Unit::kOffset * sh.x_sum[8 * nt + 2 * tq + e % 2][gr];
                        scaled[nt][e] += (e < 2 ? sc_lo : sc_hi) * dot[e];
                    }
                }
            }
            for (int nt = 0; nt < 4; ++nt)
                for (int e = 0; e < 4; ++e) {
                    const int r = e < 2 ? r_lo : r_hi, t = 8 * nt + 2 * tq + e % 2;
                    float term;
                    if constexpr (T == GgmlType::Q6_K) {
                        term = q8::q6k_scale(sh.x_d[t][0], sh.w_d[r][0], scaled[nt][e]);
                    } else {
                        int mins = 0;
                        for (int j = 0; j < kUnitsPerStep; ++j)
                            mins += sh.w_min[r][j] * (sh.x_sum[t][2 * j] + sh.x_sum[t][2 * j + 1]);
                        term = q8::k4_scale(sh.x_d[t][0], sh.w_d[r][0], sh.w_d[r][1], scaled[nt][e], mins);
                    }
                    acc[nt][e] = q8::add_rn(acc[nt][e], term);
                }
        }
    }
    for (int nt = 0; nt < 4; ++nt)
        for (int e = 0; e < 4; ++e) {
            const int64_t r = row0 + 16 * warp + g + (e < 2 ? 0 : 8);
            const int t = 8 * nt + 2 * tq + e % 2;
            if (r < rows && t < span.count) y[(span.first + t) * rows + r] = acc[nt][e];
        }
}

}  // namespace

bool has_mmq_kernel(GgmlType type) { return has_q8_kernel(type); }

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
    dispatch_q8_type(type, "mmq", [&](auto tag) {
        constexpr GgmlType T = decltype(tag)::value;
        mmq_kernel<T><<<grid, kThreads, 0, stream>>>(weights, weight, tiles, n, rows, cols, stride,
                                                     static_cast<const typename q8::Q8Unit<T>::Act*>(xq), y);
    });
    SLUICE_CUDA_CHECK_LAUNCH("mmq_kernel");
}

}  // namespace sluice::cuda
