// Byte layouts of the GGML block types as they lie in GGUF files (model-spec §C.5), and the
// small decoders of packed scales that the reference code and every kernel share.
#pragma once
#include <cstdint>
#include <cstring>

namespace sluice {

inline constexpr int kQK = 32;     // values per block of the 32-value types
inline constexpr int kQK_K = 256;  // values per K-quant super-block

// d, m, dmin: IEEE half bits.
struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
struct BlockQ8_1 { uint16_t d, s; int8_t qs[32]; };  // s = d·Σqs
struct BlockQ2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct BlockQ3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[256]; int16_t bsums[16]; };  // bsums: Σ of each 16 qs
struct BlockIQ4_NL { uint16_t d; uint8_t qs[16]; };
struct BlockIQ4_XS { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; };
struct BlockMXFP4 { uint8_t e; uint8_t qs[16]; };  // e: E8M0 exponent; qs: E2M1 codes, packed as Q4_0
// The grid-indexed IQ types (iq_quants.cpp; grids in iq_grids.h). Each 32 values hold 4 groups
// of 8 (IQ3: 8 groups of 4) picked from a grid, plus signs and a sub-block scale.
// IQ2_XXS: per 32 values 4 u16 = 4 grid bytes, then 4×7 sign bits and a 4-bit scale (top bits).
struct BlockIQ2_XXS { uint16_t d; uint16_t qs[32]; };
// IQ2_XS: per 8 values a u16 = 9-bit grid index | 7 sign bits << 9; a 4-bit scale per 16.
struct BlockIQ2_XS { uint16_t d; uint16_t qs[32]; uint8_t scales[8]; };
// IQ2_S: qs[0..31] low 8 bits of 10-bit grid indices, qs[32..63] explicit sign bytes, qh the
// top 2 bits, a 4-bit scale per 16 values.
struct BlockIQ2_S { uint16_t d; uint8_t qs[64]; uint8_t qh[8]; uint8_t scales[8]; };
// IQ3_XXS: qs[0..63] grid indices of 4-value groups, then per 32 values a u32 of 4×7 sign
// bits and a 4-bit scale.
struct BlockIQ3_XXS { uint16_t d; uint8_t qs[96]; };
// IQ3_S: 9-bit grid indices (low 8 in qs, ninth in qh), explicit signs, a 4-bit scale per 32.
struct BlockIQ3_S { uint16_t d; uint8_t qs[64]; uint8_t qh[8]; uint8_t signs[32]; uint8_t scales[4]; };
// IQ1_S: per 32 values 4 grid bytes and a u16 qh = 4×3 high index bits | 3-bit scale << 12 |
// delta sign << 15.
struct BlockIQ1_S { uint16_t d; uint8_t qs[32]; uint16_t qh[8]; };
// IQ1_M: no d field; the half-precision super-scale is spread over the top nibbles of the four
// u16 in scales, which hold 3-bit scales per 16 values.
struct BlockIQ1_M { uint8_t qs[32]; uint8_t qh[16]; uint8_t scales[8]; };

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136 && sizeof(BlockMXFP4) == 17);
static_assert(sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 && sizeof(BlockIQ2_S) == 82 &&
              sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110 && sizeof(BlockIQ1_S) == 50 &&
              sizeof(BlockIQ1_M) == 56);

// The non-linear 4-bit grid of IQ4_NL and IQ4_XS.
inline constexpr int8_t kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// MXFP4's E2M1 values doubled (ggml's kvalues_mxfp4), so the levels are integers; the scale
// below is halved to match.
inline constexpr int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// Half of the E8M0 scale 2^(e−127), i.e. 2^(e−128), built from its bits as ggml does (e < 2
// gives the subnormals 2^-128 and 2^-127).
inline float e8m0_half(uint8_t e) {
    const uint32_t bits = e < 2 ? uint32_t(0x00200000) << e : uint32_t(e - 1) << 23;
    float f;   // memcpy, not std::bit_cast: this header is also compiled as C++17 by nvcc
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

// Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
inline void k4_scale_min(int j, const uint8_t* s, uint8_t& sc, uint8_t& m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = uint8_t((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        m = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// Q3_K: signed 6-bit scale of sub-block j (0..15) from the 12 packed bytes.
inline int q3k_scale(int j, const uint8_t* s) {
    const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

// IQ4_XS: signed 6-bit scale of sub-block j (0..7).
inline int iq4xs_scale(const BlockIQ4_XS& b, int j) {
    return (((b.scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((b.scales_h >> (2 * j)) & 3) << 4)) - 32;
}

// IQ1_S / IQ1_M: the constant added to every grid level (its sign is per 8 or 16 values).
inline constexpr float kIq1Delta = 0.125f;

// IQ1_M: the half-precision super-scale's bits, gathered from the scales' top nibbles.
inline uint16_t iq1m_super_scale(const BlockIQ1_M& b) {
    uint16_t sc[4];
    std::memcpy(sc, b.scales, 8);
    return uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
}

}  // namespace sluice
