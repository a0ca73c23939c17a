// See dot_kquants_avx512.h. Level and scale layouts as in dot_x86.h (model-spec §C.5): the
// difference is that a 512-bit register holds 64 levels of two adjacent sub-blocks, built from
// one 256-bit load by shifting its upper copy by 4 (high nibbles) and so on.
#include "kernels/dot_kquants_avx512.h"

#include <immintrin.h>

#include <cstring>

// Its helpers are shared; the 256-bit kernels it also defines are not used here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "kernels/dot_x86.h"
#pragma GCC diagnostic pop
#include "quant/blocks.h"

#include "kernels/avx512_warnings.h"

namespace sluice::kernels {

namespace {

// Shared with the 256-bit kernels (compiled here with this file's AVX-512 flags).
using x86::column;
using x86::fp16;
using x86::hsum;
using x86::k4_scales_mins;
using x86::load;
using x86::with_cols;

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// 16-bit lane shifts: lanes 0–15 by `lo`, lanes 16–31 by `hi`.
inline __m512i split_shift(int lo, int hi) {
    return _mm512_mask_mov_epi16(_mm512_set1_epi16(short(lo)), 0xFFFF0000u, _mm512_set1_epi16(short(hi)));
}

// 16-bit lane indices for vpermw: lanes 0–15 pick `lo`, lanes 16–31 pick `hi`.
inline __m512i split_index(int lo, int hi) { return split_shift(lo, hi); }

// Lanes 8q .. 8q+7 pick index t + q (q = 0..3): the scales of four 16-value sub-blocks.
inline __m512i quad_index(int t) {
    __m512i v = _mm512_set1_epi16(short(t));
    v = _mm512_mask_mov_epi16(v, 0x0000FF00u, _mm512_set1_epi16(short(t + 1)));
    v = _mm512_mask_mov_epi16(v, 0x00FF0000u, _mm512_set1_epi16(short(t + 2)));
    return _mm512_mask_mov_epi16(v, 0xFF000000u, _mm512_set1_epi16(short(t + 3)));
}

template <int NC, class Block, bool FifthBit>
void dot_k4(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const Block* wb = static_cast<const Block*>(w);
    const __m512i m4 = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
    const __m512i nibble_shift = split_shift(0, 4);
    // Minimum j for bsums 2j and 2j+1 (lanes 8–15 of k4_scales_mins).
    const __m256i mins_index = _mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    __m512 acc[NC];
    __m256 mins_acc[NC];
    for (int c = 0; c < NC; ++c) {
        acc[c] = _mm512_setzero_ps();
        mins_acc[c] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const __m256i scales_mins = k4_scales_mins(wb[i].scales);
        const __m512i scales = _mm512_zextsi256_si512(scales_mins);
        const __m256i mins16 = _mm256_permutexvar_epi16(mins_index, scales_mins);
        __m512i sum[NC];
        for (int c = 0; c < NC; ++c) sum[c] = _mm512_setzero_si512();
        for (int p = 0; p < 4; ++p) {
            // Values 64p .. 64p+63: low nibbles of qs[32p ..] then their high nibbles.
            __m512i q = _mm512_and_si512(_mm512_srlv_epi16(_mm512_broadcast_i64x4(load(wb[i].qs + 32 * p)), nibble_shift), m4);
            if constexpr (FifthBit) {
                const __m512i qh = _mm512_broadcast_i64x4(load(wb[i].qh));
                const __m512i bit = _mm512_and_si512(_mm512_srlv_epi16(qh, split_shift(2 * p, 2 * p + 1)), one);
                q = _mm512_or_si512(q, _mm512_slli_epi16(bit, 4));
            }
            const __m512i sc = _mm512_permutexvar_epi16(split_index(2 * p, 2 * p + 1), scales);
            for (int c = 0; c < NC; ++c) {
                const __m512i xq = load512(column<BlockQ8_K>(x, stride, c)[i].qs + 64 * p);
                sum[c] = _mm512_dpwssd_epi32(sum[c], _mm512_maddubs_epi16(q, xq), sc);
            }
        }
        // d and dmin (adjacent halves) converted together.
        uint32_t d_dmin;
        std::memcpy(&d_dmin, &wb[i].d, 4);
        const __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(int(d_dmin)));
        for (int c = 0; c < NC; ++c) {
            const BlockQ8_K& xb = column<BlockQ8_K>(x, stride, c)[i];
            const __m128 scaled = _mm_mul_ps(dd, _mm_set1_ps(xb.d));  // xd·d, xd·dmin
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[c]), _mm512_broadcastss_ps(scaled), acc[c]);
            const __m256i mins = _mm256_madd_epi16(load(xb.bsums), mins16);
            mins_acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_broadcastss_ps(_mm_movehdup_ps(scaled)), mins_acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = _mm512_reduce_add_ps(acc[c]) + hsum(mins_acc[c]);
}

template <int NC>
void dot_q6(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
    const __m512i low_shift = split_shift(0, 0), high_shift = split_shift(4, 4);
    __m512 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb[i].scales)));
        const __m512i scales = _mm512_zextsi256_si512(scales16);
        __m512i sum[NC];
        for (int c = 0; c < NC; ++c) sum[c] = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
            // ql[64h .. 64h+63]: low nibbles are values 0..63 of this half, high nibbles 64..127;
            // qh[32h + l] holds the top two bits of values l, l+32, l+64, l+96 at bits 0, 2, 4, 6.
            const __m512i ql = load512(wb[i].ql + 64 * h);
            const __m512i qh = _mm512_broadcast_i64x4(load(wb[i].qh + 32 * h));
            const __m512i levels[2] = {
                _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi16(ql, low_shift), m4),
                                _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, split_shift(0, 2)), m3), 4)),
                _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi16(ql, high_shift), m4),
                                _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, split_shift(4, 6)), m3), 4)),
            };
            for (int k = 0; k < 2; ++k) {
                const __m512i sc = _mm512_permutexvar_epi16(quad_index(8 * h + 4 * k), scales);
                for (int c = 0; c < NC; ++c) {
                    const __m512i xq = load512(column<BlockQ8_K>(x, stride, c)[i].qs + 128 * h + 64 * k);
                    sum[c] = _mm512_dpwssd_epi32(sum[c], _mm512_maddubs_epi16(levels[k], xq), sc);
                }
            }
        }
        const float d = fp16(wb[i].d);
        for (int c = 0; c < NC; ++c) {
            const BlockQ8_K& xb = column<BlockQ8_K>(x, stride, c)[i];
            // Levels are stored +32: subtract 32·Σ scale·bsum.
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load(xb.bsums), scales16), 5);
            const __m512i total = _mm512_sub_epi32(sum[c], _mm512_zextsi256_si512(offset));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_set1_ps(xb.d * d), acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = _mm512_reduce_add_ps(acc[c]);
}

}  // namespace

void dot_q4_k_avx512(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    with_cols(nc, [&]<int NC>() { dot_k4<NC, BlockQ4_K, false>(n, w, x, s, out); });
}

void dot_q5_k_avx512(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    with_cols(nc, [&]<int NC>() { dot_k4<NC, BlockQ5_K, true>(n, w, x, s, out); });
}

void dot_q6_k_avx512(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    with_cols(nc, [&]<int NC>() { dot_q6<NC>(n, w, x, s, out); });
}

}  // namespace sluice::kernels
