// The work of one mmq thread block (mmq.cu), in phases that the kernel runs per thread between
// barriers and that a CPU test (tests/kernels/cuda_mmq_tile_test.cpp) runs for every thread of a
// block in turn, with the tensor-core product emulated from the same shared memory:
//
// A block computes a 64-row × 32-token tile, one step of 256 values at a time (a super-block of
// the K-quants and the IQ grid types without IQ1's deltas). load_step: its
// 128 threads decode the 64 weight rows' levels, 16-value scales, minimums and float factors and
// copy the 32 tokens' quantised values into shared memory (zeros past the rows, tokens or
// blocks). compute_step: warp w multiplies rows 16w..16w+15 with the 32 tokens, 16 values at a
// time (mma m16n8k16, s8 × s8 → s32: exact), scales each 16-value sum by its integer sub-block
// scale, and scales the step's integer sums in float as the portable CPU kernel scales a block
// (q8_arith.h). Lane (g, q) = (lane / 4, lane % 4) owns rows 16w + g and 16w + g + 8 by tokens
// 8j + 2q and 8j + 2q + 1, j < 4, and adds its outputs' steps in order from 0, so each output is
// the portable CPU dot of the same quantised operands bit for bit. Compiled by nvcc in C++17 and
// by the C++20 host code.
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda/q8_arith.h"

namespace sluice::cuda::mmq_tile {

constexpr int kRows = 64, kTokens = 32, kThreads = 128, kWarpLanes = 32;
constexpr int kStep = 256;                 // values per step: one K-quant super-block, eight Q8_0 blocks
constexpr int kUnitsPerStep = kStep / 32;
constexpr int kGroups = kStep / 16;        // 16-value groups per step (one mma's k)
constexpr int kPitch = kStep + 16;         // bytes per shared row: 68 words, so the 8 rows × 4 words an mma reads fall in 32 banks

struct Shared {
    int8_t w[kRows][kPitch];            // weight levels of the step
    int8_t x[kTokens][kPitch];          // activation levels of the step
    int w_scale[kRows][kGroups + 1];    // integer scale of each 16 values (+1: no bank conflicts)
    int w_min[kRows][kUnitsPerStep];    // Q4_K / Q5_K minimum of each 32 values
    float w_d[kRows][kUnitsPerStep];    // K-quants: d, dmin; IQ types: d; Q8_0: d of each block
    int x_sum[kTokens][kGroups + 1];    // Q8_K: Σ of each 16 activation levels
    float x_d[kTokens][kUnitsPerStep];  // Q8_K: d; Q8_0: d of each block
};

// The tokens of one thread block and their weight.
struct Span {
    const uint8_t* w;
    int64_t first;
    int count;
};

// Eight words at dst, 4-byte aligned (rows of kPitch bytes, 32-byte units).
SLUICE_HD inline void store_words(int8_t* dst, const int (&q)[8]) {
#ifdef __CUDA_ARCH__
    for (int i = 0; i < 8; ++i) reinterpret_cast<int*>(dst)[i] = q[i];
#else
    for (int i = 0; i < 8; ++i) std::memcpy(dst + 4 * i, &q[i], 4);
#endif
}

// Weight row r's unit j of step s (zeros past the rows or the blocks).
template <GgmlType T>
SLUICE_HD inline void load_weight_unit(Shared& sh, const uint8_t* w, size_t row_stride, int64_t rows, int64_t blocks,
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
            if constexpr (q8::kIsIqUnit<T>) {
                static_assert(q8::kIsIqUnitWithoutDelta<T>, "the IQ1 deltas need sums of 8 activations");
                Unit::scales(blk, j, sc);
                if (j == 0) sh.w_d[r][0] = Unit::d(blk);
            } else {
                Unit::scales(blk, j, sc, m);
                if (j == 0) {
                    sh.w_d[r][0] = q8::half_to_float(blk.d);
                    if constexpr (T != GgmlType::Q6_K) sh.w_d[r][1] = q8::half_to_float(blk.dmin);
                }
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
SLUICE_HD inline void load_activation_unit(Shared& sh, const typename q8::Q8Unit<T>::Act* x, int64_t blocks,
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

// Phase 1 of step s, thread `thread` of kThreads: its share of the step's loads.
template <GgmlType T>
SLUICE_HD inline void load_step(Shared& sh, const Span& span, const typename q8::Q8Unit<T>::Act* x, size_t row_stride,
                                int64_t rows, int64_t blocks, int64_t row0, int s, int thread) {
    for (int task = thread; task < kRows * kUnitsPerStep; task += kThreads)
        load_weight_unit<T>(sh, span.w, row_stride, rows, blocks, row0, s, task / kUnitsPerStep, task % kUnitsPerStep);
    for (int task = thread; task < kTokens * kUnitsPerStep; task += kThreads)
        load_activation_unit<T>(sh, x, blocks, span.first, span.count, s, task / kUnitsPerStep, task % kUnitsPerStep);
}

// Phase 2 of step s for lane `lane` of warp `warp`: acc[j][e] is the lane's output e (rows
// r_lo, r_lo, r_hi, r_hi by tokens 2q, 2q+1, 2q, 2q+1 of the 8-token tile j). Mma(d, sh, r_lo,
// j, k0) adds to d the lane's four 16-value integer dot products starting at value k0.
template <GgmlType T, class Mma>
SLUICE_HD inline void compute_step(const Shared& sh, int64_t blocks, int s, int warp, int lane, float (&acc)[4][4],
                                   Mma mma) {
    using Unit = q8::Q8Unit<T>;
    const int g = lane / 4, q = lane % 4;
    const int r_lo = 16 * warp + g, r_hi = r_lo + 8;
    if constexpr (T == GgmlType::Q8_0) {
        // One block (two 16-value products) at a time, scaled and added in block order.
        const int64_t left = blocks - int64_t(s) * kUnitsPerStep;
        const int valid = int(left < kUnitsPerStep ? left : kUnitsPerStep);
        for (int b = 0; b < valid; ++b) {
            int dot[4][4] = {};
            for (int half = 0; half < 2; ++half)
                for (int j = 0; j < 4; ++j) mma(dot[j], sh, r_lo, j, 32 * b + 16 * half);
            for (int j = 0; j < 4; ++j)
                for (int e = 0; e < 4; ++e) {
                    const int r = e < 2 ? r_lo : r_hi, t = 8 * j + 2 * q + e % 2;
                    acc[j][e] = q8::add_rn(acc[j][e], q8::q8_0_scale(sh.w_d[r][b], sh.x_d[t][b], dot[j][e]));
                }
        }
    } else {
        // The step's integer sum Σ_groups scale·(levels·x), as the CPU's per-block sum.
        int scaled[4][4] = {};
        for (int gr = 0; gr < kGroups; ++gr) {
            const int sc_lo = sh.w_scale[r_lo][gr], sc_hi = sh.w_scale[r_hi][gr];
            for (int j = 0; j < 4; ++j) {
                int dot[4] = {0, 0, 0, 0};
                mma(dot, sh, r_lo, j, 16 * gr);
                for (int e = 0; e < 4; ++e) {
                    if constexpr (T == GgmlType::Q6_K) dot[e] -= Unit::kOffset * sh.x_sum[8 * j + 2 * q + e % 2][gr];
                    scaled[j][e] += (e < 2 ? sc_lo : sc_hi) * dot[e];
                }
            }
        }
        for (int j = 0; j < 4; ++j)
            for (int e = 0; e < 4; ++e) {
                const int r = e < 2 ? r_lo : r_hi, t = 8 * j + 2 * q + e % 2;
                float term;
                if constexpr (T == GgmlType::Q6_K) {
                    term = q8::q6k_scale(sh.x_d[t][0], sh.w_d[r][0], scaled[j][e]);
                } else if constexpr (q8::kIsIqUnit<T>) {
                    term = q8::iq_scale(sh.w_d[r][0], sh.x_d[t][0], Unit::kFactor, scaled[j][e], 0);
                } else {
                    int mins = 0;
                    for (int u = 0; u < kUnitsPerStep; ++u) mins += sh.w_min[r][u] * (sh.x_sum[t][2 * u] + sh.x_sum[t][2 * u + 1]);
                    term = q8::k4_scale(sh.x_d[t][0], sh.w_d[r][0], sh.w_d[r][1], scaled[j][e], mins);
                }
                acc[j][e] = q8::add_rn(acc[j][e], term);
            }
    }
}

// Phase 3: the lane's outputs into y [tokens, rows] (those inside the rows and the span).
SLUICE_HD inline void store_outputs(const float (&acc)[4][4], const Span& span, int64_t rows, int64_t row0, int warp,
                                    int lane, float* y) {
    const int g = lane / 4, q = lane % 4;
    for (int j = 0; j < 4; ++j)
        for (int e = 0; e < 4; ++e) {
            const int64_t r = row0 + 16 * warp + g + (e < 2 ? 0 : 8);
            const int t = 8 * j + 2 * q + e % 2;
            if (r < rows && t < span.count) y[(span.first + t) * rows + r] = acc[j][e];
        }
}

}  // namespace sluice::cuda::mmq_tile
