// Dequantisation of the grid-indexed IQ types: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S,
// IQ1_M (§C.5). Each group of 8 (IQ3: 4) values is a grid entry, signed per value and scaled per
// sub-block. The float operations are llama.cpp's, in its order (the scale products first, one
// product per value), so the results are bit for bit ggml's dequantize_row_*.
#include <cstring>

#include "quant/blocks.h"
#include "quant/iq_grids.h"
#include "quant/row_conversions.h"
#include "util/half.h"

namespace sluice::quant {

namespace {

// dst[j] = ±scale·level_j for the `count` levels of a grid entry; bit j of `signs` = negative.
void store_signed(float* dst, uint64_t entry, uint8_t signs, float scale, int count, int first_sign_bit = 0) {
    for (int j = 0; j < count; ++j) {
        const float v = scale * float(grid_level(entry, j));
        dst[j] = (signs >> (first_sign_bit + j)) & 1 ? -v : v;
    }
}

// IQ1: dst[j] = scale·(level_j + delta), levels int8 in {−1, 0, 1}.
void store_iq1(float* dst, uint64_t entry, float scale, float delta) {
    for (int j = 0; j < 8; ++j) dst[j] = scale * (float(int8_t(grid_level(entry, j))) + delta);
}

}  // namespace

void dequantize_iq2_xxs(const void* src, float* dst, int64_t n) {
    const BlockIQ2_XXS* b = static_cast<const BlockIQ2_XXS*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int s = 0; s < 8; ++s) {
            uint32_t aux[2];
            std::memcpy(aux, b[i].qs + 4 * s, 8);
            const float db = d * (0.5f + float(aux[1] >> 28)) * 0.25f;
            for (int l = 0; l < 4; ++l, dst += 8)
                store_signed(dst, kIq2xxsGrid[(aux[0] >> (8 * l)) & 0xFF], kIq2Signs[(aux[1] >> (7 * l)) & 127], db, 8);
        }
    }
}

void dequantize_iq2_xs(const void* src, float* dst, int64_t n) {
    const BlockIQ2_XS* b = static_cast<const BlockIQ2_XS*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int s = 0; s < 8; ++s) {
            const float db[2] = {d * (0.5f + float(b[i].scales[s] & 0xF)) * 0.25f,
                                 d * (0.5f + float(b[i].scales[s] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l, dst += 8) {
                const uint16_t q = b[i].qs[4 * s + l];
                store_signed(dst, kIq2xsGrid[q & 511], kIq2Signs[q >> 9], db[l / 2], 8);
            }
        }
    }
}

void dequantize_iq2_s(const void* src, float* dst, int64_t n) {
    const BlockIQ2_S* b = static_cast<const BlockIQ2_S*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        const uint8_t* signs = b[i].qs + 32;
        for (int s = 0; s < 8; ++s) {
            const float db[2] = {d * (0.5f + float(b[i].scales[s] & 0xF)) * 0.25f,
                                 d * (0.5f + float(b[i].scales[s] >> 4)) * 0.25f};
            for (int l = 0; l < 4; ++l, dst += 8) {
                const int index = b[i].qs[4 * s + l] | ((b[i].qh[s] << (8 - 2 * l)) & 0x300);
                store_signed(dst, kIq2sGrid[index], signs[4 * s + l], db[l / 2], 8);
            }
        }
    }
}

void dequantize_iq3_xxs(const void* src, float* dst, int64_t n) {
    const BlockIQ3_XXS* b = static_cast<const BlockIQ3_XXS*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int s = 0; s < 8; ++s) {
            uint32_t aux;
            std::memcpy(&aux, b[i].qs + 64 + 4 * s, 4);
            const float db = d * (0.5f + float(aux >> 28)) * 0.5f;
            const uint8_t* qs = b[i].qs + 8 * s;
            for (int l = 0; l < 4; ++l, dst += 8) {
                const uint8_t signs = kIq2Signs[(aux >> (7 * l)) & 127];
                store_signed(dst, kIq3xxsGrid[qs[2 * l]], signs, db, 4);
                store_signed(dst + 4, kIq3xxsGrid[qs[2 * l + 1]], signs, db, 4, 4);
            }
        }
    }
}

void dequantize_iq3_s(const void* src, float* dst, int64_t n) {
    const BlockIQ3_S* b = static_cast<const BlockIQ3_S*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int s = 0; s < 8; ++s) {
            const int scale = (b[i].scales[s / 2] >> (4 * (s % 2))) & 0xF;
            const float db = d * float(1 + 2 * scale);
            const uint8_t* qs = b[i].qs + 8 * s;
            const uint8_t qh = b[i].qh[s];
            for (int l = 0; l < 4; ++l, dst += 8) {
                const uint8_t signs = b[i].signs[4 * s + l];
                store_signed(dst, kIq3sGrid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)], signs, db, 4);
                store_signed(dst + 4, kIq3sGrid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)], signs, db, 4, 4);
            }
        }
    }
}

void dequantize_iq1_s(const void* src, float* dst, int64_t n) {
    const BlockIQ1_S* b = static_cast<const BlockIQ1_S*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int s = 0; s < 8; ++s) {
            const uint16_t qh = b[i].qh[s];
            const float dl = d * float(2 * ((qh >> 12) & 7) + 1);
            const float delta = qh & 0x8000 ? -kIq1Delta : kIq1Delta;
            for (int l = 0; l < 4; ++l, dst += 8)
                store_iq1(dst, kIq1sGrid[b[i].qs[4 * s + l] | (((qh >> (3 * l)) & 7) << 8)], dl, delta);
        }
    }
}

void dequantize_iq1_m(const void* src, float* dst, int64_t n) {
    const BlockIQ1_M* b = static_cast<const BlockIQ1_M*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(iq1m_super_scale(b[i]));
        uint16_t sc[4];
        std::memcpy(sc, b[i].scales, 8);
        for (int s = 0; s < 8; ++s) {
            const int shift = 6 * (s % 2);
            const float dl[2] = {d * float(2 * ((sc[s / 2] >> shift) & 7) + 1),
                                 d * float(2 * ((sc[s / 2] >> (shift + 3)) & 7) + 1)};
            const uint8_t* qh = b[i].qh + 2 * s;
            for (int l = 0; l < 4; ++l, dst += 8) {
                const uint8_t h = qh[l / 2] >> (4 * (l % 2));  // 3 index bits, then the delta sign
                const int index = b[i].qs[4 * s + l] | ((h & 7) << 8);
                store_iq1(dst, kIq1sGrid[index], dl[l / 2], h & 8 ? -kIq1Delta : kIq1Delta);
            }
        }
    }
}

}  // namespace sluice::quant
