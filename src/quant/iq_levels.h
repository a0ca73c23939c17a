// The grid-indexed IQ blocks as integers: each value's signed grid level, an odd integer scale
// per 16 values, and (IQ1) the sign of the ±1/8 delta per 8 values. A value is then
// d·factor·scale·(level + delta/8); the portable kernels compute with this form, the one
// llama.cpp's generic dot products use (integer sums per sub-block, one float product per block).
#pragma once
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/iq_grids.h"
#include "util/half.h"

namespace sluice::quant {

struct IqLevels {
    float d = 0;              // the block's scale (IQ1_M: gathered from its scales)
    float factor = 1;         // 1/8 for the IQ2 types, 1/4 for IQ3_XXS, 1 for IQ3_S and IQ1
    int8_t level[256];        // ±grid level
    int scale[16];            // odd, per 16 values
    int8_t delta_sign[32];    // IQ1 only: ±1 per 8 values; 0 for the others
};

namespace detail {

inline void put_signed(int8_t* dst, uint64_t entry, uint8_t signs, int count, int first_bit = 0) {
    for (int j = 0; j < count; ++j) {
        const int v = grid_level(entry, j);
        dst[j] = int8_t((signs >> (first_bit + j)) & 1 ? -v : v);
    }
}

inline void put_iq1(int8_t* dst, uint64_t entry) {
    for (int j = 0; j < 8; ++j) dst[j] = int8_t(grid_level(entry, j));
}

}  // namespace detail

inline void iq_levels(const BlockIQ2_XXS& b, IqLevels& o) {
    o.d = f16_to_f32(b.d);
    o.factor = 0.125f;
    std::memset(o.delta_sign, 0, sizeof o.delta_sign);
    for (int s = 0; s < 8; ++s) {
        uint32_t aux[2];
        std::memcpy(aux, b.qs + 4 * s, 8);
        o.scale[2 * s] = o.scale[2 * s + 1] = 2 * int(aux[1] >> 28) + 1;
        for (int l = 0; l < 4; ++l)
            detail::put_signed(o.level + 32 * s + 8 * l, kIq2xxsGrid[(aux[0] >> (8 * l)) & 0xFF],
                               kIq2Signs[(aux[1] >> (7 * l)) & 127], 8);
    }
}

inline void iq_levels(const BlockIQ2_XS& b, IqLevels& o) {
    o.d = f16_to_f32(b.d);
    o.factor = 0.125f;
    std::memset(o.delta_sign, 0, sizeof o.delta_sign);
    for (int s = 0; s < 8; ++s) {
        o.scale[2 * s] = 2 * (b.scales[s] & 0xF) + 1;
        o.scale[2 * s + 1] = 2 * (b.scales[s] >> 4) + 1;
        for (int l = 0; l < 4; ++l) {
            const uint16_t q = b.qs[4 * s + l];
            detail::put_signed(o.level + 32 * s + 8 * l, kIq2xsGrid[q & 511], kIq2Signs[q >> 9], 8);
        }
    }
}

inline void iq_levels(const BlockIQ2_S& b, IqLevels& o) {
    o.d = f16_to_f32(b.d);
    o.factor = 0.125f;
    std::memset(o.delta_sign, 0, sizeof o.delta_sign);
    for (int s = 0; s < 8; ++s) {
        o.scale[2 * s] = 2 * (b.scales[s] & 0xF) + 1;
        o.scale[2 * s + 1] = 2 * (b.scales[s] >> 4) + 1;
        for (int l = 0; l < 4; ++l) {
            const int index = b.qs[4 * s + l] | ((b.qh[s] << (8 - 2 * l)) & 0x300);
            detail::put_signed(o.level + 32 * s + 8 * l, kIq2sGrid[index], b.qs[32 + 4 * s + l], 8);
        }
    }
}

inline void iq_levels(const BlockIQ3_XXS& b, IqLevels& o) {
    o.d = f16_to_f32(b.d);
    o.factor = 0.25f;
    std::memset(o.delta_sign, 0, sizeof o.delta_sign);
    for (int s = 0; s < 8; ++s) {
        uint32_t aux;
        std::memcpy(&aux, b.qs + 64 + 4 * s, 4);
        o.scale[2 * s] = o.scale[2 * s + 1] = 2 * int(aux >> 28) + 1;
        for (int l = 0; l < 4; ++l) {
            const uint8_t signs = kIq2Signs[(aux >> (7 * l)) & 127];
            int8_t* dst = o.level + 32 * s + 8 * l;
            detail::put_signed(dst, kIq3xxsGrid[b.qs[8 * s + 2 * l]], signs, 4);
            detail::put_signed(dst + 4, kIq3xxsGrid[b.qs[8 * s + 2 * l + 1]], signs, 4, 4);
        }
    }
}

inline void iq_levels(const BlockIQ3_S& b, IqLevels& o) {
    o.d = f16_to_f32(b.d);
    o.factor = 1.0f;
    std::memset(o.delta_sign, 0, sizeof o.delta_sign);
    for (int s = 0; s < 8; ++s) {
        o.scale[2 * s] = o.scale[2 * s + 1] = 2 * ((b.scales[s / 2] >> (4 * (s % 2))) & 0xF) + 1;
        const uint8_t qh = b.qh[s];
        for (int l = 0; l < 4; ++l) {
            const uint8_t signs = b.signs[4 * s + l];
            int8_t* dst = o.level + 32 * s + 8 * l;
            detail::put_signed(dst, kIq3sGrid[b.qs[8 * s + 2 * l] | ((qh << (8 - 2 * l)) & 256)], signs, 4);
            detail::put_signed(dst + 4, kIq3sGrid[b.qs[8 * s + 2 * l + 1] | ((qh << (7 - 2 * l)) & 256)], signs, 4, 4);
        }
    }
}

inline void iq_levels(const BlockIQ1_S& b, IqLevels& o) {
    o.d = f16_to_f32(b.d);
    o.factor = 1.0f;
    for (int s = 0; s < 8; ++s) {
        const uint16_t qh = b.qh[s];
        o.scale[2 * s] = o.scale[2 * s + 1] = 2 * ((qh >> 12) & 7) + 1;
        for (int l = 0; l < 4; ++l) {
            o.delta_sign[4 * s + l] = qh & 0x8000 ? -1 : 1;
            detail::put_iq1(o.level + 32 * s + 8 * l, kIq1sGrid[b.qs[4 * s + l] | (((qh >> (3 * l)) & 7) << 8)]);
        }
    }
}

inline void iq_levels(const BlockIQ1_M& b, IqLevels& o) {
    o.d = f16_to_f32(iq1m_super_scale(b));
    o.factor = 1.0f;
    uint16_t sc[4];
    std::memcpy(sc, b.scales, 8);
    for (int s = 0; s < 8; ++s) {
        const int shift = 6 * (s % 2);
        o.scale[2 * s] = 2 * ((sc[s / 2] >> shift) & 7) + 1;
        o.scale[2 * s + 1] = 2 * ((sc[s / 2] >> (shift + 3)) & 7) + 1;
        for (int l = 0; l < 4; ++l) {
            const uint8_t h = b.qh[2 * s + l / 2] >> (4 * (l % 2));
            o.delta_sign[4 * s + l] = h & 8 ? -1 : 1;
            detail::put_iq1(o.level + 32 * s + 8 * l, kIq1sGrid[b.qs[4 * s + l] | ((h & 7) << 8)]);
        }
    }
}

}  // namespace sluice::quant
