// The x86 kernels, written once over 256-bit vectors and compiled twice: by dot_avx2.cpp
// (AVX2 + FMA + F16C) and by dot_avx512.cpp (the same code with VNNI's byte dot product and
// EVEX's 32 registers). Everything is in an anonymous namespace on purpose: each of the two
// files gets its own copy built for its instruction set (a shared inline function could make
// the linker call an AVX-512 copy from the AVX2 path). Include only from files compiled for
// one instruction set: dot_avx2.cpp, dot_avx512.cpp and dot_kquants_avx512.cpp.
//
// `Ops` supplies the instructions that differ: Ops::dot_u8s8(acc, u, s) = acc + Σ of four
// adjacent u8·s8 products per int32 lane; Ops::dot_i16(acc, a, b) = acc + Σ of two adjacent
// i16·i16 products per int32 lane (VNNI does each in one instruction).
//
// Block decoding follows model-spec §C.5. The K-quant kernels keep each sub-block's sum in
// 16-bit lanes (pmaddubsw: no overflow, weights ≤ 63 and activations within ±127) and scale it
// with pmaddwd; offsets of the unsigned levels (Q3_K −4, Q6_K −32) and the minimums (Q2_K, Q4_K,
// Q5_K) are applied once per super-block through Q8_K's bsums.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/dot.h"
#include "kernels/repack.h"
#include "quant/blocks.h"
#include "quant/row_conversions.h"
#include "util/half.h"

namespace sluice::kernels {
namespace {

namespace x86 {

inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

// 16 bytes of packed nibbles → 32 bytes: the 16 low nibbles, then the 16 high nibbles.
inline __m256i unpack_nibbles(const uint8_t* p) {
    const __m128i t = load128(p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

// Byte j = 0xFF where bit j of `bits` is set, else 0.
inline __m256i bit_mask_32(uint32_t bits) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(int(bits)),
        _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i select = _mm256_set1_epi64x(int64_t(0x8040201008040201));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

// Bit k of every byte, moved to bit `to`.
inline __m256i bit_of_bytes(__m256i v, int k, int to) {
    return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(v, k), _mm256_set1_epi8(1)), to);
}

// The IQ4 grid in both 128-bit lanes, for pshufb lookups by nibble.
inline __m256i iq4_table() { return _mm256_broadcastsi128_si256(load128(kIq4Values)); }

// From 16 int16 scales of 16-value sub-blocks: lanes 0–7 = s[2t], lanes 8–15 = s[2t+1], the
// scale of each pmaddubsw lane over the 32 values of sub-blocks 2t and 2t+1.
inline __m256i scale_pair(__m256i scales16, int t) {
    const __m256i both = _mm256_permutevar8x32_epi32(scales16, _mm256_set1_epi32(t));
    return _mm256_shuffle_epi8(both, _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2,
                                                      3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3));
}

// Lane j of the 8 int16 in `scales8` broadcast to all 16 lanes.
inline __m256i broadcast16(__m128i scales8, int j) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(scales8), _mm256_set1_epi16(short(0x0100 + 0x0202 * j)));
}

// Σ pmaddubsw(u, s) scaled per int16 lane: Σ over pairs of (u·s) · scale, in int32 lanes.
inline __m256i scaled_dot(__m256i u, __m256i s, __m256i scales) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scales);
}

// The activation rows of one call.
template <class Block>
const Block* column(const void* x, size_t stride, int c) {
    return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(x) + size_t(c) * stride);
}

// Calls f.template operator()<NC>() for NC = nc (1..kMaxCols) so each column count gets
// registers of its own.
template <class F>
void with_cols(int nc, F&& f) {
    switch (nc) {
        case 1: f.template operator()<1>(); break;
        case 2: f.template operator()<2>(); break;
        case 3: f.template operator()<3>(); break;
        default: f.template operator()<4>(); break;
    }
}

// ---- float weights: F32, F16, BF16 against float activations ----

template <int NC, class Load8, class Widen>
void dot_float(int64_t n, const void* w, const void* x, size_t stride, float* out, Load8 load8, Widen widen) {
    __m256 acc[NC][2];
    for (int c = 0; c < NC; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = load8(w, i), w1 = load8(w, i + 8);
        for (int c = 0; c < NC; ++c) {
            const float* xc = column<float>(x, stride, c);
            acc[c][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xc + i), acc[c][0]);
            acc[c][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xc + i + 8), acc[c][1]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 w0 = load8(w, i);
        for (int c = 0; c < NC; ++c)
            acc[c][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(column<float>(x, stride, c) + i), acc[c][0]);
    }
    for (int c = 0; c < NC; ++c) {
        float s = hsum(_mm256_add_ps(acc[c][0], acc[c][1]));
        for (int64_t j = i; j < n; ++j) s += widen(w, j) * column<float>(x, stride, c)[j];
        out[c] = s;
    }
}

inline __m256 load8_f32(const void* w, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
inline __m256 load8_f16(const void* w, int64_t i) { return _mm256_cvtph_ps(load128(static_cast<const uint16_t*>(w) + i)); }
inline __m256 load8_bf16(const void* w, int64_t i) {
    const __m256i wide = _mm256_cvtepu16_epi32(load128(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
inline float widen_f32(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
inline float widen_f16(const void* w, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(w)[i]); }
inline float widen_bf16(const void* w, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(w)[i]); }

// ---- 32-value blocks against Q8_0: Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4 ----

// Decoders: the 32 signed levels of a block.
inline __m256i levels(const BlockQ8_0& b) { return load(b.qs); }
inline __m256i levels(const BlockQ4_0& b) { return _mm256_sub_epi8(unpack_nibbles(b.qs), _mm256_set1_epi8(8)); }
inline __m256i levels(const BlockQ5_0& b) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    // nibble | 16·bit − 16 = nibble − 16 where the bit is clear.
    return _mm256_sub_epi8(unpack_nibbles(b.qs), _mm256_andnot_si256(bit_mask_32(qh), _mm256_set1_epi8(16)));
}
inline __m256i levels(const BlockIQ4_NL& b) { return _mm256_shuffle_epi8(iq4_table(), unpack_nibbles(b.qs)); }
inline __m256i levels(const BlockMXFP4& b) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(load128(kMxfp4Values)), unpack_nibbles(b.qs));
}

// The scale of a block's levels: a half, or MXFP4's halved E8M0.
template <class Block>
float block_scale(const Block& b) {
    if constexpr (requires { b.e; }) return e8m0_half(b.e);
    else return fp16(b.d);
}

// Unsigned levels of the _1 types (their minimum is applied through Q8_1's s).
inline __m256i levels(const BlockQ4_1& b) { return unpack_nibbles(b.qs); }
inline __m256i levels(const BlockQ5_1& b) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    return _mm256_or_si256(unpack_nibbles(b.qs), _mm256_and_si256(bit_mask_32(qh), _mm256_set1_epi8(16)));
}

template <class Ops, int NC, class Block>
void dot_q8_0_family(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const Block* wb = static_cast<const Block*>(w);
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; ++b) {
        const __m256i q = levels(wb[b]);
        const __m256i uq = _mm256_sign_epi8(q, q);  // |q|; the activations take q's sign
        const float dw = block_scale(wb[b]);
        for (int c = 0; c < NC; ++c) {
            const BlockQ8_0& xb = column<BlockQ8_0>(x, stride, c)[b];
            const __m256i p = Ops::dot_u8s8(_mm256_setzero_si256(), uq, _mm256_sign_epi8(load(xb.qs), q));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * fp16(xb.d)), acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = hsum(acc[c]);
}

template <class Ops, int NC, class Block>
void dot_q8_1_family(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const Block* wb = static_cast<const Block*>(w);
    __m256 acc[NC];
    float mins[NC] = {};
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; ++b) {
        const __m256i q = levels(wb[b]);
        const float dw = fp16(wb[b].d), mw = fp16(wb[b].m);
        for (int c = 0; c < NC; ++c) {
            const BlockQ8_1& xb = column<BlockQ8_1>(x, stride, c)[b];
            const __m256i p = Ops::dot_u8s8(_mm256_setzero_si256(), q, load(xb.qs));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * fp16(xb.d)), acc[c]);
            mins[c] += mw * fp16(xb.s);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = hsum(acc[c]) + mins[c];
}

// ---- K-quants and IQ4_XS against Q8_K ----

// Adds one super-block: acc += dx·d·scaled (+ dx·(−dmin)·mins).
inline __m256 add_superblock(__m256 acc, __m256i scaled, float dxd) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(scaled), _mm256_set1_ps(dxd), acc);
}

template <class Ops, int NC>
void dot_q2_k(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const BlockQ2_K* wb = static_cast<const BlockQ2_K*>(w);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const __m128i packed = load128(wb[i].scales);
        const __m256i scales16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0F)));
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
        __m256i sum[NC];
        for (int c = 0; c < NC; ++c) sum[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = load(wb[i].qs + 32 * h);
            for (int j = 0; j < 4; ++j) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), m3);
                const __m256i sc = scale_pair(scales16, 4 * h + j);
                for (int c = 0; c < NC; ++c)
                    sum[c] = _mm256_add_epi32(sum[c], scaled_dot(q, load(column<BlockQ8_K>(x, stride, c)[i].qs + 128 * h + 32 * j), sc));
            }
        }
        const float d = fp16(wb[i].d), dmin = fp16(wb[i].dmin);
        for (int c = 0; c < NC; ++c) {
            const BlockQ8_K& xb = column<BlockQ8_K>(x, stride, c)[i];
            acc[c] = add_superblock(acc[c], sum[c], xb.d * d);
            acc[c] = add_superblock(acc[c], _mm256_madd_epi16(load(xb.bsums), mins16), -xb.d * dmin);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = hsum(acc[c]);
}

// The 16 signed 6-bit Q3_K scales as int16.
inline __m256i q3k_scales16(const uint8_t* s) {
    uint32_t a[3];
    std::memcpy(a, s, 12);
    const uint32_t lo = 0x0F0F0F0F, hi = 0x03030303;
    const __m128i packed = _mm_setr_epi32(int((a[0] & lo) | (a[2] & hi) << 4), int((a[1] & lo) | ((a[2] >> 2) & hi) << 4),
                                          int(((a[0] >> 4) & lo) | ((a[2] >> 4) & hi) << 4),
                                          int(((a[1] >> 4) & lo) | ((a[2] >> 6) & hi) << 4));
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(packed, _mm_set1_epi8(32)));
}

template <class Ops, int NC>
void dot_q3_k(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const BlockQ3_K* wb = static_cast<const BlockQ3_K*>(w);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const __m256i scales16 = q3k_scales16(wb[i].scales);
        const __m256i hmask = load(wb[i].hmask);
        __m256i sum[NC];
        for (int c = 0; c < NC; ++c) sum[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = load(wb[i].qs + 32 * h);
            for (int j = 0; j < 4; ++j) {
                // Levels 0..7 = 2 low bits | high bit << 2; the −4 offset comes through bsums.
                const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), m3),
                                                  bit_of_bytes(hmask, 4 * h + j, 2));
                const __m256i sc = scale_pair(scales16, 4 * h + j);
                for (int c = 0; c < NC; ++c)
                    sum[c] = _mm256_add_epi32(sum[c], scaled_dot(q, load(column<BlockQ8_K>(x, stride, c)[i].qs + 128 * h + 32 * j), sc));
            }
        }
        const float d = fp16(wb[i].d);
        for (int c = 0; c < NC; ++c) {
            const BlockQ8_K& xb = column<BlockQ8_K>(x, stride, c)[i];
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load(xb.bsums), scales16), 2);
            acc[c] = add_superblock(acc[c], _mm256_sub_epi32(sum[c], offset), xb.d * d);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = hsum(acc[c]);
}

// Q4_K / Q5_K: the 8 six-bit scales as int16 lanes 0–7 and the 8 six-bit minimums as lanes
// 8–15, decoded from the 12 packed bytes (see k4_scale_min) with a handful of vector operations:
// dwords a0 a1 a2 give sc0–3 = a0 & 63, m0–3 = a1 & 63, sc4–7 = (a2 & 15) | (a0 >> 6) << 4,
// m4–7 = (a2 >> 4 & 15) | (a1 >> 6) << 4, bytewise. Reads 16 bytes (the block continues after).
inline __m256i k4_scales_mins(const uint8_t* s) {
    const __m128i raw = load128(s);
    const __m128i a = _mm_shuffle_epi32(raw, _MM_SHUFFLE(2, 2, 1, 0));  // a0 a1 a2 a2
    const __m128i six = _mm_set1_epi8(63), four = _mm_set1_epi8(15), two = _mm_set1_epi8(3);
    const __m128i low = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)), _mm_blend_epi32(six, four, 0b1100));
    const __m128i b = _mm_shuffle_epi32(raw, _MM_SHUFFLE(1, 0, 1, 0));  // a0 a1 a0 a1
    const __m128i top = _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(b, 6), _mm_blend_epi32(_mm_setzero_si128(), two, 0b1100)), 4);
    // sc0–3 m0–3 sc4–7 m4–7 → sc0–7 m0–7
    return _mm256_cvtepu8_epi16(_mm_shuffle_epi32(_mm_or_si128(low, top), _MM_SHUFFLE(3, 1, 2, 0)));
}

// The minimums of k4_scales_mins doubled (m0 m0 m1 m1 …) to line up with the 16 bsums.
inline __m256i k4_mins_for_bsums(__m256i scales_mins) {
    const __m128i m = _mm256_extracti128_si256(scales_mins, 1);
    return _mm256_set_m128i(_mm_unpackhi_epi16(m, m), _mm_unpacklo_epi16(m, m));
}

// One Q4_K/Q5_K super-block against NC activation blocks xb[c], added to acc[c].
template <class Ops, int NC, class Block, bool FifthBit>
[[gnu::always_inline]] inline void k4_superblock(const Block& b, const BlockQ8_K* const* xb, __m256* acc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i scales_mins = k4_scales_mins(b.scales);
    const __m128i scales8 = _mm256_castsi256_si128(scales_mins);
    const __m256i mins16 = k4_mins_for_bsums(scales_mins);
    // Low and high nibbles sum apart: two shorter dependency chains.
    __m256i sum_lo[NC], sum_hi[NC];
    for (int c = 0; c < NC; ++c) sum_lo[c] = sum_hi[c] = _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
        const __m256i qs = load(b.qs + 32 * p);
        __m256i lo = _mm256_and_si256(qs, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
        if constexpr (FifthBit) {
            const __m256i qh = load(b.qh);
            lo = _mm256_or_si256(lo, bit_of_bytes(qh, 2 * p, 4));
            hi = _mm256_or_si256(hi, bit_of_bytes(qh, 2 * p + 1, 4));
        }
        const __m256i s_lo = broadcast16(scales8, 2 * p), s_hi = broadcast16(scales8, 2 * p + 1);
        for (int c = 0; c < NC; ++c) {
            const int8_t* xq = xb[c]->qs + 64 * p;
            sum_lo[c] = Ops::dot_i16(sum_lo[c], _mm256_maddubs_epi16(lo, load(xq)), s_lo);
            sum_hi[c] = Ops::dot_i16(sum_hi[c], _mm256_maddubs_epi16(hi, load(xq + 32)), s_hi);
        }
    }
    // d and dmin (adjacent halves) converted together.
    uint32_t d_dmin;
    std::memcpy(&d_dmin, &b.d, 4);
    const __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128(int(d_dmin)));
    for (int c = 0; c < NC; ++c) {
        const __m128 scaled = _mm_mul_ps(dd, _mm_set1_ps(xb[c]->d));  // xd·d, xd·dmin
        const __m256i sum = _mm256_add_epi32(sum_lo[c], sum_hi[c]);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_broadcastss_ps(scaled), acc[c]);
        acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(load(xb[c]->bsums), mins16)),
                                  _mm256_broadcastss_ps(_mm_movehdup_ps(scaled)), acc[c]);
    }
}

template <class Ops, int NC, class Block, bool FifthBit>
void dot_k4(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const Block* wb = static_cast<const Block*>(w);
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ8_K* xb[NC];
        for (int c = 0; c < NC; ++c) xb[c] = column<BlockQ8_K>(x, stride, c) + i;
        k4_superblock<Ops, NC, Block, FifthBit>(wb[i], xb, acc);
    }
    for (int c = 0; c < NC; ++c) out[c] = hsum(acc[c]);
}

// NR weight rows against one activation row, super-block by super-block: the rows' independent
// sums overlap and one call covers NR rows (decode's rows are short: 3–8 super-blocks).
template <class Ops, int NR, class Block, bool FifthBit>
void dot_k4_rows(int64_t n, const void* w, size_t w_stride, const void* x, float* out) {
    const BlockQ8_K* xs = static_cast<const BlockQ8_K*>(x);
    __m256 acc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
    for (int r = 0; r < NR; ++r) {
        const Block* wb = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + r * w_stride);
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const BlockQ8_K* xb = xs + i;
            k4_superblock<Ops, 1, Block, FifthBit>(wb[i], &xb, &acc[r]);
        }
    }
    for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

// ---- Q4_K, eight rows interleaved (kernels/repack.h) against NC activation rows ----

// pshufb pattern moving byte j of every int32 lane to the lane's low byte, zeroing the rest.
inline __m256i byte_of_lanes_pattern(int j) {
    const int32_t z = int32_t(0x80808000u);
    return _mm256_setr_epi32(z | j, z | (4 + j), z | (8 + j), z | (12 + j), z | j, z | (4 + j), z | (8 + j), z | (12 + j));
}

// Q8_K's sums of 16 activations added in pairs (sums of each 32-value sub-block j = 0..7) and
// arranged as int16 pairs for pmaddwd against x8_min_pairs: int32 lanes 0–3 = (b0, b2), (b1, b3),
// (b4, b6), (b5, b7).
inline __m128i x8_bsum_pairs(const BlockQ8_K& x) {
    const __m128i b = _mm_hadd_epi16(load128(x.bsums), load128(x.bsums + 8));  // b0 … b7
    return _mm_shuffle_epi8(b, _mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15));
}

// out[8c + r] = the dot of row r of the group with activation row c. Lanes are rows throughout:
// each byte dot product adds 4 products for all eight rows, and scales apply to whole vectors.
// Ops::kFullBytes (VNNI: u8 operands up to 255 without saturation) lets the high nibbles stay in
// place (16× their value), which the scales of the low nibbles then match by being 16× too.
template <class Ops, int NC>
void dot_q4_k_x8(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const BlockQ4_Kx8* wb = static_cast<const BlockQ4_Kx8*>(w);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(63), top2 = _mm256_set1_epi8(0x30);
    constexpr float kHigh = Ops::kFullBytes ? 1.0f / 16 : 1.0f;
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ4_Kx8& b = wb[i];
        // k4_scale_min for eight rows at once: bytes [row][j] of sub-blocks 0–3 and 4–7.
        const __m256i a0 = load(b.a0), a1 = load(b.a1), a2 = load(b.a2);
        const __m256i scales[2] = {
            _mm256_and_si256(a0, m6),
            _mm256_or_si256(_mm256_and_si256(a2, m4), _mm256_and_si256(_mm256_srli_epi16(a0, 2), top2))};
        const __m256i mins[2] = {
            _mm256_and_si256(a1, m6),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a2, 4), m4), _mm256_and_si256(_mm256_srli_epi16(a1, 2), top2))};
        const BlockQ8_K* xb[NC];
        for (int c = 0; c < NC; ++c) xb[c] = column<BlockQ8_K>(x, stride, c) + i;
        __m256i isum[NC];
        for (int c = 0; c < NC; ++c) isum[c] = _mm256_setzero_si256();
        for (int p = 0; p < 4; ++p) {
            // Sub-blocks 2p (low nibbles) and 2p + 1 (high nibbles), each summed in two halves
            // (k even, k odd): chains of four dependent byte dot products instead of eight.
            __m256i lo_sum[2][NC], hi_sum[2][NC];
            for (int h = 0; h < 2; ++h)
                for (int c = 0; c < NC; ++c) lo_sum[h][c] = hi_sum[h][c] = _mm256_setzero_si256();
            for (int k = 0; k < 8; ++k) {
                const __m256i q = load(b.qs[p][k]);
                const __m256i lo = _mm256_and_si256(q, m4);
                const __m256i hi = Ops::kFullBytes ? _mm256_andnot_si256(m4, q) : _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                for (int c = 0; c < NC; ++c) {
                    int32_t xl, xh;
                    std::memcpy(&xl, xb[c]->qs + 64 * p + 4 * k, 4);
                    std::memcpy(&xh, xb[c]->qs + 64 * p + 32 + 4 * k, 4);
                    lo_sum[k % 2][c] = Ops::dot_u8s8(lo_sum[k % 2][c], lo, _mm256_set1_epi32(xl));
                    hi_sum[k % 2][c] = Ops::dot_u8s8(hi_sum[k % 2][c], hi, _mm256_set1_epi32(xh));
                }
            }
            __m256i s_lo = _mm256_shuffle_epi8(scales[p / 2], byte_of_lanes_pattern(2 * (p % 2)));
            const __m256i s_hi = _mm256_shuffle_epi8(scales[p / 2], byte_of_lanes_pattern(2 * (p % 2) + 1));
            if constexpr (Ops::kFullBytes) s_lo = _mm256_slli_epi32(s_lo, 4);
            for (int c = 0; c < NC; ++c) {
                const __m256i lo = _mm256_add_epi32(lo_sum[0][c], lo_sum[1][c]);
                const __m256i hi = _mm256_add_epi32(hi_sum[0][c], hi_sum[1][c]);
                isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(_mm256_mullo_epi32(lo, s_lo), _mm256_mullo_epi32(hi, s_hi)));
            }
        }
        // Minimums as int16 pairs per row: (m0, m2), (m1, m3) and (m4, m6), (m5, m7).
        const __m256i even = _mm256_set1_epi16(0x00FF);
        const __m256i min_pairs[4] = {_mm256_and_si256(mins[0], even), _mm256_srli_epi16(mins[0], 8),
                                      _mm256_and_si256(mins[1], even), _mm256_srli_epi16(mins[1], 8)};
        const __m256 d = _mm256_cvtph_ps(load128(b.d)), dmin = _mm256_cvtph_ps(load128(b.dmin));
        for (int c = 0; c < NC; ++c) {
            // Σ_j min_j · (Σ of sub-block j's activations)
            const __m128i bp = x8_bsum_pairs(*xb[c]);
            __m256i msum = _mm256_madd_epi16(min_pairs[0], _mm256_broadcastd_epi32(bp));
            msum = Ops::dot_i16(msum, min_pairs[1], _mm256_broadcastd_epi32(_mm_shuffle_epi32(bp, 1)));
            msum = Ops::dot_i16(msum, min_pairs[2], _mm256_broadcastd_epi32(_mm_shuffle_epi32(bp, 2)));
            msum = Ops::dot_i16(msum, min_pairs[3], _mm256_broadcastd_epi32(_mm_shuffle_epi32(bp, 3)));
            const __m256 xd = _mm256_set1_ps(xb[c]->d);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(d, _mm256_set1_ps(xb[c]->d * kHigh)), acc[c]);
            acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, xd), acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

template <class Ops, int NC>
void dot_q6_k(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const __m256i scales16 = _mm256_cvtepi8_epi16(load128(wb[i].scales));
        __m256i sum[NC];
        for (int c = 0; c < NC; ++c) sum[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = load(wb[i].ql + 64 * h), ql1 = load(wb[i].ql + 64 * h + 32);
            const __m256i qh = load(wb[i].qh + 32 * h);
            // Levels 0..63 (the −32 offset comes through bsums), for values 32k .. 32k+31 of this half.
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4)),
            };
            for (int k = 0; k < 4; ++k) {
                const __m256i sc = scale_pair(scales16, 4 * h + k);
                for (int c = 0; c < NC; ++c)
                    sum[c] = _mm256_add_epi32(sum[c], scaled_dot(q[k], load(column<BlockQ8_K>(x, stride, c)[i].qs + 128 * h + 32 * k), sc));
            }
        }
        const float d = fp16(wb[i].d);
        for (int c = 0; c < NC; ++c) {
            const BlockQ8_K& xb = column<BlockQ8_K>(x, stride, c)[i];
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load(xb.bsums), scales16), 5);
            acc[c] = add_superblock(acc[c], _mm256_sub_epi32(sum[c], offset), xb.d * d);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = hsum(acc[c]);
}

// ---- Q6_K, eight rows interleaved (kernels/repack.h) against NC activation rows ----

// out[8c + r] = the dot of row r of the group with activation row c, lanes as rows as in
// dot_q4_k_x8. The three 32-byte loads of q[h][k] give the levels 0..63 of four values (of eight
// rows) in each of four sub-blocks; four byte dot products against the
// broadcast activations sum a 16-value sub-block, which is then scaled by its eight rows' scales.
// The −32 offset comes once per super-block through Q8_K's bsums.
template <class Ops, int NC>
void dot_q6_k_x8(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const BlockQ6_Kx8* wb = static_cast<const BlockQ6_Kx8*>(w);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ6_Kx8& b = wb[i];
        const BlockQ8_K* xb[NC];
        for (int c = 0; c < NC; ++c) xb[c] = column<BlockQ8_K>(x, stride, c) + i;
        __m256i isum[NC];
        for (int c = 0; c < NC; ++c) isum[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h)
            for (int s = 0; s < 2; ++s) {
                // Values 128h + 32m + 16s + 4k4 + (0..3) of sub-block j = 8h + 2m + s, m = 0..3.
                __m256i sum[4][NC];
                for (int m = 0; m < 4; ++m)
                    for (int c = 0; c < NC; ++c) sum[m][c] = _mm256_setzero_si256();
                for (int k4 = 0; k4 < 4; ++k4) {
                    const int k = 4 * s + k4;
                    const __m256i qa = load(b.q[h][k][0]), qb = load(b.q[h][k][1]), qh = load(b.q[h][k][2]);
                    const __m256i q[4] = {
                        _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)),
                        _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), _mm256_and_si256(qh, m30)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)),
                    };
                    for (int m = 0; m < 4; ++m)
                        for (int c = 0; c < NC; ++c) {
                            int32_t xv;
                            std::memcpy(&xv, xb[c]->qs + 128 * h + 32 * m + 4 * k, 4);
                            sum[m][c] = Ops::dot_u8s8(sum[m][c], q[m], _mm256_set1_epi32(xv));
                        }
                }
                for (int m = 0; m < 4; ++m) {
                    const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales[8 * h + 2 * m + s])));
                    for (int c = 0; c < NC; ++c) isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(sum[m][c], sc));
                }
            }
        // Scales as int16 pairs per row, (s_2t, s_2t+1), for pmaddwd against the bsums' pairs.
        __m256i scale_pairs[8];
        for (int t = 0; t < 8; ++t) {
            const __m128i even = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales[2 * t]));
            const __m128i odd = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales[2 * t + 1]));
            scale_pairs[t] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(even, odd));
        }
        const __m256 d = _mm256_cvtph_ps(load128(b.d));
        for (int c = 0; c < NC; ++c) {
            int32_t pairs[8];
            std::memcpy(pairs, xb[c]->bsums, sizeof(pairs));
            __m256i offset = _mm256_setzero_si256();
            for (int t = 0; t < 8; ++t) offset = Ops::dot_i16(offset, scale_pairs[t], _mm256_set1_epi32(pairs[t]));
            const __m256i sum = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(offset, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, _mm256_set1_ps(xb[c]->d)), acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

template <class Ops, int NC>
void dot_iq4_xs(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const BlockIQ4_XS* wb = static_cast<const BlockIQ4_XS*>(w);
    const __m256i table = iq4_table();
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        __m256i sum[NC];
        for (int c = 0; c < NC; ++c) sum[c] = _mm256_setzero_si256();
        for (int s = 0; s < 8; ++s) {
            const __m256i v = _mm256_shuffle_epi8(table, unpack_nibbles(wb[i].qs + 16 * s));
            const __m256i uv = _mm256_sign_epi8(v, v);
            const __m256i sc = _mm256_set1_epi16(short(iq4xs_scale(wb[i], s)));
            for (int c = 0; c < NC; ++c) {
                const __m256i xs = _mm256_sign_epi8(load(column<BlockQ8_K>(x, stride, c)[i].qs + 32 * s), v);
                sum[c] = _mm256_add_epi32(sum[c], scaled_dot(uv, xs, sc));
            }
        }
        const float d = fp16(wb[i].d);
        for (int c = 0; c < NC; ++c) acc[c] = add_superblock(acc[c], sum[c], column<BlockQ8_K>(x, stride, c)[i].d * d);
    }
    for (int c = 0; c < NC; ++c) out[c] = hsum(acc[c]);
}

// ---- activation quantisers (bit for bit the portable ones) ----

// 32 int32 → 32 int8 in order (the packs interleave 128-bit lanes; the permute undoes it).
inline __m256i pack_32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

template <class Block>
void quantize_q8_act(const float* src, void* dst, int64_t n) {
    Block* b = static_cast<Block*>(dst);
    for (int64_t i = 0; i < n / 32; ++i, src += 32) {
        __m256 v[4];
        for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(src + 8 * k);
        const float amax = hmax(_mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])), _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3]))));
        const float d = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
        __m256i q[4];
        for (int k = 0; k < 4; ++k) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], id));  // round to even
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), pack_32(q[0], q[1], q[2], q[3]));
        b[i].d = f32_to_f16(d);
        if constexpr (sizeof(Block) == sizeof(BlockQ8_1)) {
            const int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
            b[i].s = f32_to_f16(d * float(sum));
        }
    }
}

void quantize_q8_k_act(const float* src, void* dst, int64_t n) {
    BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        __m256 amax8 = _mm256_setzero_ps();
        for (int k = 0; k < 32; ++k) amax8 = _mm256_max_ps(amax8, abs_ps(_mm256_loadu_ps(src + 8 * k)));
        const float amax = hmax(amax8);
        if (amax == 0) {
            b[i] = BlockQ8_K{};
            continue;
        }
        // The first element of largest magnitude, with its sign.
        float max = 0;
        for (int k = 0; k < 32; ++k) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(src + 8 * k)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit) {
                max = src[8 * k + __builtin_ctz(unsigned(hit))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        const __m256i cap = _mm256_set1_epi32(127);
        for (int g = 0; g < 8; ++g) {
            __m256i q[4];
            for (int k = 0; k < 4; ++k)
                q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + 32 * g + 8 * k), is)), cap);
            const __m256i bytes = pack_32(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs + 32 * g), bytes);
            // Sums of each 16 bytes: pairs, then quads, then the two halves of each 128-bit lane.
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), bytes), _mm256_set1_epi16(1));
            s = _mm256_hadd_epi32(s, s);
            s = _mm256_hadd_epi32(s, s);
            b[i].bsums[2 * g] = int16_t(_mm256_extract_epi32(s, 0));
            b[i].bsums[2 * g + 1] = int16_t(_mm256_extract_epi32(s, 4));
        }
        b[i].d = 1 / iscale;
    }
}

// ---- dequantisers (bit for bit the references: products rounded before any add) ----

// a·b rounded to float; the empty asm keeps the compiler from fusing it into a following add.
inline __m256 mul_rounded(__m256 a, __m256 b) {
    __m256 p = _mm256_mul_ps(a, b);
    asm("" : "+x"(p));
    return p;
}

// dst[k] = float(byte k)·scale_{k/16} + add_{k/16} (add may be −offset; 0 adds nothing).
inline void store_levels(float* dst, __m256i q, float s0, float s1, float a0 = 0, float a1 = 0, bool with_add = false) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
        const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]));
        __m256 y = mul_rounded(f, _mm256_set1_ps(k < 2 ? s0 : s1));
        if (with_add) y = _mm256_add_ps(y, _mm256_set1_ps(k < 2 ? a0 : a1));
        _mm256_storeu_ps(dst + 8 * k, y);
    }
}

template <class Block>
void dequantize_32(const void* src, float* dst, int64_t n) {
    const Block* b = static_cast<const Block*>(src);
    for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
        const float d = block_scale(b[i]);
        if constexpr (requires { b[i].m; }) {
            const float m = fp16(b[i].m);
            store_levels(dst, levels(b[i]), d, d, m, m, true);
        } else {
            store_levels(dst, levels(b[i]), d, d);
        }
    }
}

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
    const BlockQ2_K* b = static_cast<const BlockQ2_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16(b[i].d), min = fp16(b[i].dmin);
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = load(b[i].qs + 32 * h);
            for (int j = 0; j < 4; ++j, dst += 32) {
                const uint8_t s0 = b[i].scales[8 * h + 2 * j], s1 = b[i].scales[8 * h + 2 * j + 1];
                store_levels(dst, _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), _mm256_set1_epi8(3)), d * float(s0 & 0xF),
                             d * float(s1 & 0xF), -(min * float(s0 >> 4)), -(min * float(s1 >> 4)), true);
            }
        }
    }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
    const BlockQ3_K* b = static_cast<const BlockQ3_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16(b[i].d);
        const __m256i hmask = load(b[i].hmask);
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = load(b[i].qs + 32 * h);
            for (int j = 0; j < 4; ++j, dst += 32) {
                const __m256i q = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), _mm256_set1_epi8(3)),
                                                                  bit_of_bytes(hmask, 4 * h + j, 2)),
                                                  _mm256_set1_epi8(4));
                const int t = 8 * h + 2 * j;
                store_levels(dst, q, d * float(q3k_scale(t, b[i].scales)), d * float(q3k_scale(t + 1, b[i].scales)));
            }
        }
    }
}

template <class Block, bool FifthBit>
void dequantize_k4(const void* src, float* dst, int64_t n) {
    const Block* b = static_cast<const Block*>(src);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16(b[i].d), min = fp16(b[i].dmin);
        for (int p = 0; p < 4; ++p, dst += 64) {
            const __m256i qs = load(b[i].qs + 32 * p);
            __m256i lo = _mm256_and_si256(qs, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
            if constexpr (FifthBit) {
                const __m256i qh = load(b[i].qh);
                lo = _mm256_or_si256(lo, bit_of_bytes(qh, 2 * p, 4));
                hi = _mm256_or_si256(hi, bit_of_bytes(qh, 2 * p + 1, 4));
            }
            uint8_t sc, m;
            k4_scale_min(2 * p, b[i].scales, sc, m);
            const float d1 = d * float(sc), m1 = min * float(m);
            k4_scale_min(2 * p + 1, b[i].scales, sc, m);
            const float d2 = d * float(sc), m2 = min * float(m);
            store_levels(dst, lo, d1, d1, -m1, -m1, true);
            store_levels(dst + 32, hi, d2, d2, -m2, -m2, true);
        }
    }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
    const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), offset = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16(b[i].d);
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = load(b[i].ql + 64 * h), ql1 = load(b[i].ql + 64 * h + 32);
            const __m256i qh = load(b[i].qh + 32 * h);
            for (int k = 0; k < 4; ++k, dst += 32) {
                const __m256i low = _mm256_and_si256(k < 2 ? (k == 0 ? ql0 : ql1) : _mm256_srli_epi16(k == 2 ? ql0 : ql1, 4), m4);
                const __m256i high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3), 4);
                const int t = 8 * h + 2 * k;
                store_levels(dst, _mm256_sub_epi8(_mm256_or_si256(low, high), offset), d * float(b[i].scales[t]),
                             d * float(b[i].scales[t + 1]));
            }
        }
    }
}

void dequantize_iq4_xs(const void* src, float* dst, int64_t n) {
    const BlockIQ4_XS* b = static_cast<const BlockIQ4_XS*>(src);
    const __m256i table = iq4_table();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16(b[i].d);
        for (int s = 0; s < 8; ++s, dst += 32) {
            const float dl = d * float(iq4xs_scale(b[i], s));
            store_levels(dst, _mm256_shuffle_epi8(table, unpack_nibbles(b[i].qs + 16 * s)), dl, dl);
        }
    }
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_f16(src, i));
    for (; i < n; ++i) dst[i] = widen_f16(src, i);
}

void dequantize_bf16(const void* src, float* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_bf16(src, i));
    for (; i < n; ++i) dst[i] = widen_bf16(src, i);
}

void dequantize_f32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, size_t(n) * 4); }

// ---- weighted sum of Q8_0 rows: attention's V over a q8_0 KV cache ----

// A tile of rows × values dequantised into L1 (16 KiB): each row is read once, in order, and
// converted once for every weight row, whatever the GQA group.
constexpr int64_t kTileRows = 16, kTileValues = 256;

// out_c[i] += Σ_r w_c[r]·tile[r][i] for NC weight rows, 16 values at a time: 2·NC accumulators,
// within AVX2's 16 registers; the sum runs in order of r, as the reference's.
template <int NC>
void add_weighted_tile(const float* tile, int64_t rows, int64_t width, const float* w, size_t w_step, float* out,
                       size_t out_step) {
    for (int64_t i = 0; i < width; i += 16) {
        __m256 acc[NC][2];
        for (int c = 0; c < NC; ++c)
            for (int j = 0; j < 2; ++j) acc[c][j] = _mm256_loadu_ps(out + size_t(c) * out_step + size_t(i + 8 * j));
        for (int64_t r = 0; r < rows; ++r) {
            const __m256 lo = _mm256_loadu_ps(tile + r * width + i), hi = _mm256_loadu_ps(tile + r * width + i + 8);
            for (int c = 0; c < NC; ++c) {
                const __m256 wc = _mm256_broadcast_ss(w + size_t(c) * w_step + size_t(r));
                acc[c][0] = _mm256_fmadd_ps(wc, lo, acc[c][0]);
                acc[c][1] = _mm256_fmadd_ps(wc, hi, acc[c][1]);
            }
        }
        for (int c = 0; c < NC; ++c)
            for (int j = 0; j < 2; ++j) _mm256_storeu_ps(out + size_t(c) * out_step + size_t(i + 8 * j), acc[c][j]);
    }
}

void weighted_rows_q8_0(int64_t n, int64_t len, const void* v, size_t v_stride, const float* w, size_t w_step,
                        int nc, float* out, size_t out_step) {
    alignas(32) float tile[kTileRows * kTileValues];
    const uint8_t* rows = static_cast<const uint8_t*>(v);
    for (int64_t i0 = 0; i0 < n; i0 += kTileValues) {
        const int64_t width = std::min(kTileValues, n - i0);
        for (int64_t p0 = 0; p0 < len; p0 += kTileRows) {
            const int64_t count = std::min(kTileRows, len - p0);
            for (int64_t r = 0; r < count; ++r) {
                const uint8_t* row = rows + size_t(p0 + r) * v_stride + size_t(i0 / 32) * sizeof(BlockQ8_0);
                // The next tile's row: rows a stride apart defeat the hardware prefetcher.
                if (p0 + r + kTileRows < len)
                    for (int64_t at = 0; at < width / 32 * int64_t(sizeof(BlockQ8_0)); at += 64)
                        _mm_prefetch(reinterpret_cast<const char*>(row + kTileRows * v_stride + size_t(at)), _MM_HINT_T0);
                dequantize_32<BlockQ8_0>(row, tile + r * width, width);
            }
            for (int c0 = 0; c0 < nc; c0 += kMaxCols)
                with_cols(std::min(kMaxCols, nc - c0), [&]<int NC>() {
                    add_weighted_tile<NC>(tile, count, width, w + size_t(c0) * w_step + size_t(p0), w_step,
                                          out + size_t(c0) * out_step + size_t(i0), out_step);
                });
        }
    }
}

// ---- the table ----

template <class Ops>
KernelSet make_x86_kernels(Isa isa) {
    KernelSet k;
    k.isa = isa;
    auto set = [&](GgmlType t, DotFn dot, DequantizeFn deq) { k.types[uint32_t(t)] = {dot, deq}; };
#define SLUICE_DOT(expr)                                                                         \
    [](int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {                \
        with_cols(nc, [&]<int NC>() { expr; });                                                 \
    }
    set(GgmlType::F32, SLUICE_DOT((dot_float<NC>(n, w, x, s, out, load8_f32, widen_f32))), dequantize_f32);
    set(GgmlType::F16, SLUICE_DOT((dot_float<NC>(n, w, x, s, out, load8_f16, widen_f16))), dequantize_f16);
    set(GgmlType::BF16, SLUICE_DOT((dot_float<NC>(n, w, x, s, out, load8_bf16, widen_bf16))), dequantize_bf16);
    set(GgmlType::Q8_0, SLUICE_DOT((dot_q8_0_family<Ops, NC, BlockQ8_0>(n, w, x, s, out))), dequantize_32<BlockQ8_0>);
    set(GgmlType::Q4_0, SLUICE_DOT((dot_q8_0_family<Ops, NC, BlockQ4_0>(n, w, x, s, out))), dequantize_32<BlockQ4_0>);
    set(GgmlType::Q5_0, SLUICE_DOT((dot_q8_0_family<Ops, NC, BlockQ5_0>(n, w, x, s, out))), dequantize_32<BlockQ5_0>);
    set(GgmlType::IQ4_NL, SLUICE_DOT((dot_q8_0_family<Ops, NC, BlockIQ4_NL>(n, w, x, s, out))), dequantize_32<BlockIQ4_NL>);
    set(GgmlType::MXFP4, SLUICE_DOT((dot_q8_0_family<Ops, NC, BlockMXFP4>(n, w, x, s, out))), dequantize_32<BlockMXFP4>);
    set(GgmlType::Q4_1, SLUICE_DOT((dot_q8_1_family<Ops, NC, BlockQ4_1>(n, w, x, s, out))), dequantize_32<BlockQ4_1>);
    set(GgmlType::Q5_1, SLUICE_DOT((dot_q8_1_family<Ops, NC, BlockQ5_1>(n, w, x, s, out))), dequantize_32<BlockQ5_1>);
    set(GgmlType::Q2_K, SLUICE_DOT((dot_q2_k<Ops, NC>(n, w, x, s, out))), dequantize_q2_k);
    set(GgmlType::Q3_K, SLUICE_DOT((dot_q3_k<Ops, NC>(n, w, x, s, out))), dequantize_q3_k);
    set(GgmlType::Q4_K, SLUICE_DOT((dot_k4<Ops, NC, BlockQ4_K, false>(n, w, x, s, out))), (dequantize_k4<BlockQ4_K, false>));
    set(GgmlType::Q5_K, SLUICE_DOT((dot_k4<Ops, NC, BlockQ5_K, true>(n, w, x, s, out))), (dequantize_k4<BlockQ5_K, true>));
    set(GgmlType::Q6_K, SLUICE_DOT((dot_q6_k<Ops, NC>(n, w, x, s, out))), dequantize_q6_k);
    set(GgmlType::IQ4_XS, SLUICE_DOT((dot_iq4_xs<Ops, NC>(n, w, x, s, out))), dequantize_iq4_xs);
#define SLUICE_DOT_ROWS(expr)                                                                    \
    [](int64_t n, const void* w, size_t ws, int nr, const void* x, float* out) {                \
        with_cols(nr, [&]<int NR>() { expr; });                                                 \
    }
    k.types[uint32_t(GgmlType::Q4_K)].dot_rows = SLUICE_DOT_ROWS((dot_k4_rows<Ops, NR, BlockQ4_K, false>(n, w, ws, x, out)));
    k.types[uint32_t(GgmlType::Q5_K)].dot_rows = SLUICE_DOT_ROWS((dot_k4_rows<Ops, NR, BlockQ5_K, true>(n, w, ws, x, out)));
#undef SLUICE_DOT_ROWS
    k.types[uint32_t(GgmlType::Q4_K)].dot_x8 = SLUICE_DOT((dot_q4_k_x8<Ops, NC>(n, w, x, s, out)));
    k.types[uint32_t(GgmlType::Q6_K)].dot_x8 = SLUICE_DOT((dot_q6_k_x8<Ops, NC>(n, w, x, s, out)));
#undef SLUICE_DOT
    k.quantize_q8_0 = quantize_q8_act<BlockQ8_0>;
    k.quantize_q8_1 = quantize_q8_act<BlockQ8_1>;
    k.quantize_q8_k = quantize_q8_k_act;
    k.weighted_rows_q8_0 = weighted_rows_q8_0;
    return k;
}

}  // namespace x86

}  // namespace
}  // namespace sluice::kernels
