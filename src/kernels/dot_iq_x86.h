// x86 dot kernels of the grid-indexed IQ types against Q8_K, compiled with dot_x86.h by
// dot_avx2.cpp and dot_avx512.cpp (same anonymous-namespace rule: include only from those).
//
// Each 32 values are unpacked into byte magnitudes (grid levels looked up per 8 or 4 values)
// and a byte vector whose signs are the values' signs; the activations take those signs
// (psignb: Q8_K is within ±127, so no overflow) and pmaddubsw/pmaddwd sum |w|·(±x) scaled per
// 16-value half, as for the K-quants. IQ1 levels are stored as 8·level ± 1 (the ±1/8 delta),
// so IQ1_S and IQ1_M take the same path with a factor 1/8.
#pragma once
#include "kernels/dot_x86.h"
#include "quant/iq_grids.h"

#include <array>

namespace sluice::kernels {
namespace {
namespace x86 {

// One 32-value sub-block, unpacked (its scales come per block, from iq_scales).
struct IqSub {
    __m256i magnitude;  // u8 |level|
    __m256i sign;       // byte j negative where value j is (never 0)
};


// Eight ±1 bytes from the eight bits of a sign byte (bit j set: byte j = −1).
inline constexpr std::array<uint64_t, 256> kSignBytes = [] {
    std::array<uint64_t, 256> t{};
    for (int i = 0; i < 256; ++i)
        for (int j = 0; j < 8; ++j) t[size_t(i)] |= uint64_t((i >> j) & 1 ? 0xFF : 0x01) << (8 * j);
    return t;
}();

// The same from a 7-bit sign code (kIq2Signs: the eighth sign makes the count even): one load
// per 8 values, where decoding the code and spreading its bits in registers costs more.
inline constexpr std::array<uint64_t, 128> kSignCodeBytes = [] {
    std::array<uint64_t, 128> t{};
    for (size_t i = 0; i < 128; ++i) t[i] = kSignBytes[kIq2Signs[i]];
    return t;
}();

// ±1 bytes from 32 explicit sign bits: spread in registers, no table loads.
inline __m256i signs_from_bits(uint32_t bits) { return _mm256_or_si256(bit_mask_32(bits), _mm256_set1_epi8(1)); }

// ±1 bytes from four 7-bit sign codes at bit offsets 0, 7, 14, 21 of `codes`.
inline __m256i signs_from_codes(uint32_t codes) {
    const uint64_t* t = kSignCodeBytes.data();
    return _mm256_set_epi64x(int64_t(t[(codes >> 21) & 127]), int64_t(t[(codes >> 14) & 127]), int64_t(t[(codes >> 7) & 127]),
                             int64_t(t[codes & 127]));
}

inline __m256i grid64(const uint64_t* grid, int i0, int i1, int i2, int i3) {
    return _mm256_set_epi64x(int64_t(grid[i3]), int64_t(grid[i2]), int64_t(grid[i1]), int64_t(grid[i0]));
}

inline IqSub iq_sub(const BlockIQ2_XXS& b, int s) {
    // Grid indices: 4 bytes, read as bytes (loads, not shifts); then 4×7 sign bits and the scale.
    const uint8_t* g = reinterpret_cast<const uint8_t*>(b.qs + 4 * s);
    uint32_t codes;
    std::memcpy(&codes, g + 4, 4);
    return {grid64(kIq2xxsGrid, g[0], g[1], g[2], g[3]), signs_from_codes(codes)};
}

inline IqSub iq_sub(const BlockIQ2_XS& b, int s) {
    const uint16_t* q = b.qs + 4 * s;
    return {grid64(kIq2xsGrid, q[0] & 511, q[1] & 511, q[2] & 511, q[3] & 511),
            _mm256_set_epi64x(int64_t(kSignCodeBytes[q[3] >> 9]), int64_t(kSignCodeBytes[q[2] >> 9]),
                              int64_t(kSignCodeBytes[q[1] >> 9]), int64_t(kSignCodeBytes[q[0] >> 9]))};
}

inline IqSub iq_sub(const BlockIQ2_S& b, int s) {
    const uint8_t* q = b.qs + 4 * s;
    const int h = b.qh[s];
    uint32_t bits;
    std::memcpy(&bits, b.qs + 32 + 4 * s, 4);
    return {grid64(kIq2sGrid, q[0] | (h << 8 & 0x300), q[1] | (h << 6 & 0x300), q[2] | (h << 4 & 0x300),
                   q[3] | (h << 2 & 0x300)),
            signs_from_bits(bits)};
}

inline IqSub iq_sub(const BlockIQ3_XXS& b, int s) {
    const uint8_t* q = b.qs + 8 * s;
    uint32_t aux;
    std::memcpy(&aux, b.qs + 64 + 4 * s, 4);
    const uint32_t* g = kIq3xxsGrid;
    return {_mm256_set_epi32(int(g[q[7]]), int(g[q[6]]), int(g[q[5]]), int(g[q[4]]), int(g[q[3]]), int(g[q[2]]),
                             int(g[q[1]]), int(g[q[0]])),
            signs_from_codes(aux)};
}

inline IqSub iq_sub(const BlockIQ3_S& b, int s) {
    const uint8_t* q = b.qs + 8 * s;
    const int h = b.qh[s];
    const uint32_t* g = kIq3sGrid;
    auto at = [&](int k) { return int(g[q[k] | ((h << (8 - k)) & 256)]); };  // k: 4-value group, ninth bit = bit k of qh
    uint32_t bits;
    std::memcpy(&bits, b.signs + 4 * s, 4);
    return {_mm256_set_epi32(at(7), at(6), at(5), at(4), at(3), at(2), at(1), at(0)), signs_from_bits(bits)};
}

// IQ1: 8·level + delta per byte, from int8 grid levels in {−1, 0, 1} and delta bytes ±1.
inline IqSub iq1_sub(__m256i levels, __m256i delta) {
    const __m256i w = _mm256_add_epi8(_mm256_sign_epi8(_mm256_set1_epi8(8), levels), delta);
    return {_mm256_abs_epi8(w), w};
}

// Four 11-bit IQ1 grid indices: the low bytes from qs, the high 3 bits from `high` (4 bits per
// group, the fourth ignored), assembled with pdep (BMI2, in both instruction sets' flags).
inline __m256i iq1_grid(const uint8_t* qs, uint32_t high) {
    uint32_t low;
    std::memcpy(&low, qs, 4);
    const uint64_t packed = _pdep_u64(low, 0x00FF00FF00FF00FFull) | _pdep_u64(high & 0x7777, 0x0F000F000F000F00ull);
    return grid64(kIq1sGrid, int(packed & 0xFFFF), int((packed >> 16) & 0xFFFF), int((packed >> 32) & 0xFFFF),
                  int(packed >> 48));
}

inline IqSub iq_sub(const BlockIQ1_S& b, int s) {
    const int h = b.qh[s];
    // The 3-bit groups of qh moved to 4-bit ones, as iq1_grid takes them.
    const uint32_t high = uint32_t(_pdep_u32(uint32_t(h) & 0xFFF, 0x7777));
    return iq1_sub(iq1_grid(b.qs + 4 * s, high), _mm256_set1_epi8(h & 0x8000 ? -1 : 1));
}

inline IqSub iq_sub(const BlockIQ1_M& b, int s) {
    uint16_t h;
    std::memcpy(&h, b.qh + 2 * s, 2);
    // Delta signs (bit 3 of each nibble) to four bytes 0xFF or 0, each sign-extended over its group.
    const uint32_t negative = uint32_t(_pdep_u32(_pext_u32(h, 0x8888), 0x01010101)) * 0xFF;
    const __m256i delta = _mm256_or_si256(_mm256_cvtepi8_epi64(_mm_cvtsi32_si128(int(negative))), _mm256_set1_epi8(1));
    return iq1_sub(iq1_grid(b.qs + 4 * s, h), delta);
}

// The scales of a block, unpacked at once (a scalar unpack per sub-block costs more than the
// dot products): 16 int16, the odd scale 2·field + 1 of each 16 values in value order, for
// scale_pair to pick per sub-block. Types with a scale per 32 values repeat it for both halves.

// Eight scales per 32 values, one per u32 lane (its low 4 bits), to 16 int16 (both halves).
inline __m256i scales_per_32(__m256i fields) {
    const __m256i odd = _mm256_add_epi32(_mm256_add_epi32(fields, fields), _mm256_set1_epi32(1));
    return _mm256_or_si256(odd, _mm256_slli_epi32(odd, 16));
}

// IQ2_XXS: the top 4 bits of the second u32 of each 8 bytes.
inline __m256i iq_scales(const BlockIQ2_XXS& b) {
    const __m256i odd_words = _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7);
    const __m256i lo = _mm256_permutevar8x32_epi32(load(b.qs), odd_words), hi = _mm256_permutevar8x32_epi32(load(b.qs + 16), odd_words);
    return scales_per_32(_mm256_srli_epi32(_mm256_blend_epi32(lo, hi, 0xF0), 28));
}

// IQ3_XXS: the top 4 bits of each u32 after the grid indices.
inline __m256i iq_scales(const BlockIQ3_XXS& b) { return scales_per_32(_mm256_srli_epi32(load(b.qs + 64), 28)); }

// IQ3_S: a nibble per 32 values, low nibble first.
inline __m256i iq_scales(const BlockIQ3_S& b) {
    uint32_t packed;
    std::memcpy(&packed, b.scales, 4);
    const __m128i v = _mm_cvtsi32_si128(int(packed)), m4 = _mm_set1_epi8(0x0F);
    const __m128i fields = _mm_unpacklo_epi8(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    return scales_per_32(_mm256_cvtepu8_epi32(fields));
}

// IQ1_S: bits 12–14 of each qh.
inline __m256i iq_scales(const BlockIQ1_S& b) {
    const __m128i fields = _mm_and_si128(_mm_srli_epi16(load128(b.qh), 12), _mm_set1_epi16(7));
    return scales_per_32(_mm256_cvtepu16_epi32(fields));
}

// IQ2_XS, IQ2_S: a nibble per 16 values, low nibble first.
inline __m256i iq_scales_4bit(const uint8_t* scales) {
    uint64_t packed;
    std::memcpy(&packed, scales, 8);
    const __m128i v = _mm_cvtsi64_si128(int64_t(packed)), m4 = _mm_set1_epi8(0x0F);
    const __m128i fields = _mm_unpacklo_epi8(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    return _mm256_cvtepu8_epi16(_mm_add_epi8(_mm_add_epi8(fields, fields), _mm_set1_epi8(1)));
}
inline __m256i iq_scales(const BlockIQ2_XS& b) { return iq_scales_4bit(b.scales); }
inline __m256i iq_scales(const BlockIQ2_S& b) { return iq_scales_4bit(b.scales); }

// IQ1_M: 3-bit fields at bits 0, 3, 6, 9 of each of four u16 (field f of u16 k: values of half
// 4k + f). Shifting the u64 by 3f in 64-bit lane f leaves half 4k + f in word k of lane f;
// bytes then reorder to half order.
inline __m256i iq_scales(const BlockIQ1_M& b) {
    uint64_t packed;
    std::memcpy(&packed, b.scales, 8);
    const __m256i fields = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(int64_t(packed)), _mm256_setr_epi64x(0, 3, 6, 9)),
                                            _mm256_set1_epi16(7));
    // Words at 4f + k → bytes (packus keeps 128-bit lanes: lane 0 holds f = 0, 1, lane 1 f = 2, 3).
    const __m256i bytes = _mm256_packus_epi16(fields, fields);
    const __m128i by_field = _mm_unpacklo_epi64(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
    const __m128i by_half = _mm_shuffle_epi8(by_field, _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    return _mm256_cvtepu8_epi16(_mm_add_epi8(_mm_add_epi8(by_half, by_half), _mm_set1_epi8(1)));
}

// The block's float scale times the factor that makes the odd integer scales exact.
inline float iq_d(const BlockIQ2_XXS& b) { return fp16(b.d) * 0.125f; }
inline float iq_d(const BlockIQ2_XS& b) { return fp16(b.d) * 0.125f; }
inline float iq_d(const BlockIQ2_S& b) { return fp16(b.d) * 0.125f; }
inline float iq_d(const BlockIQ3_XXS& b) { return fp16(b.d) * 0.25f; }
inline float iq_d(const BlockIQ3_S& b) { return fp16(b.d); }
inline float iq_d(const BlockIQ1_S& b) { return fp16(b.d) * 0.125f; }
inline float iq_d(const BlockIQ1_M& b) { return fp16(iq1m_super_scale(b)) * 0.125f; }

template <class Ops, int NC, class Block>
void dot_iq(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const Block* wb = static_cast<const Block*>(w);
    __m256 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        __m256i sum[NC];
        for (int c = 0; c < NC; ++c) sum[c] = _mm256_setzero_si256();
        const __m256i scales16 = iq_scales(wb[i]);
        for (int s = 0; s < 8; ++s) {
            const IqSub u = iq_sub(wb[i], s);
            const __m256i sc = scale_pair(scales16, s);
            for (int c = 0; c < NC; ++c) {
                const __m256i xs = _mm256_sign_epi8(load(column<BlockQ8_K>(x, stride, c)[i].qs + 32 * s), u.sign);
                sum[c] = _mm256_add_epi32(sum[c], scaled_dot(u.magnitude, xs, sc));
            }
        }
        const float d = iq_d(wb[i]);
        for (int c = 0; c < NC; ++c) acc[c] = add_superblock(acc[c], sum[c], column<BlockQ8_K>(x, stride, c)[i].d * d);
    }
    for (int c = 0; c < NC; ++c) out[c] = hsum(acc[c]);
}

// Registers the IQ kernels; dequantisation is the scalar reference (bit for bit by definition;
// these types are not dequantised in any hot path).
template <class Ops>
void add_iq_kernels(KernelSet& k) {
#define SLUICE_IQ(T, Block, deq)                                                                             \
    k.types[uint32_t(GgmlType::T)] = {[](int64_t n, const void* w, const void* x, size_t s, int nc, float* out) { \
                                          with_cols(nc, [&]<int NC>() { dot_iq<Ops, NC, Block>(n, w, x, s, out); }); \
                                      },                                                                     \
                                      quant::deq}
    SLUICE_IQ(IQ2_XXS, BlockIQ2_XXS, dequantize_iq2_xxs);
    SLUICE_IQ(IQ2_XS, BlockIQ2_XS, dequantize_iq2_xs);
    SLUICE_IQ(IQ2_S, BlockIQ2_S, dequantize_iq2_s);
    SLUICE_IQ(IQ3_XXS, BlockIQ3_XXS, dequantize_iq3_xxs);
    SLUICE_IQ(IQ3_S, BlockIQ3_S, dequantize_iq3_s);
    SLUICE_IQ(IQ1_S, BlockIQ1_S, dequantize_iq1_s);
    SLUICE_IQ(IQ1_M, BlockIQ1_M, dequantize_iq1_m);
#undef SLUICE_IQ
}

}  // namespace x86
}  // namespace
}  // namespace sluice::kernels
