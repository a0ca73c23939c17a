// K-quants (Q2_K … Q6_K): super-blocks of 256 values in sub-blocks of 16 or 32, whose scales
// (and minimums) are themselves quantised against one or two half-precision super-scales
// (§C.5). Each quantiser first fits every sub-block in float, then quantises the sub-block
// scales, then re-quantises the values against the scales as stored.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/row_conversions.h"
#include "quant/scale_search.h"
#include "util/half.h"

namespace sluice::quant {

namespace {

// Q2_K and Q3_K put values e, e+32, e+64, e+96 of each 128 into the four 2-bit fields of a byte.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < kQK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = uint8_t(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

// Bits 2e' of byte qs[32n + l] for value e = 128n + 32e' + l.
int q2_bits(const uint8_t* qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

// Stores the 8 six-bit scales and mins of a Q4_K / Q5_K super-block (see k4_scale_min).
void pack_k4_scales(const float* scales, const float* mins, float max_scale, float max_min, uint8_t* out) {
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; ++j) {
        // Conversion to uint8_t first, as llama.cpp does (a negative fit wraps, then clamps to 63).
        const uint8_t ls = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
        const uint8_t lm = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
        if (j < 4) {
            out[j] = ls;
            out[j + 4] = lm;
        } else {
            out[j + 4] = uint8_t((ls & 0xF) | (lm & 0xF) << 4);
            out[j - 4] |= uint8_t((ls >> 4) << 6);
            out[j] |= uint8_t((lm >> 4) << 6);
        }
    }
}

// Q4_K / Q5_K: affine fit of each 32-value sub-block (weights rms + |x|), scales packed, then
// the values re-quantised to [0, nmax] against the stored scales. L receives the levels.
void quantize_k4_superblock(const float* x, int nmax, float rmin, int nstep, uint16_t& d_out, uint16_t& dmin_out,
                            uint8_t* scales_out, uint8_t* L) {
    float scales[8], mins[8], weights[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = fit_affine(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, false);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    std::memset(scales_out, 0, 12);
    pack_k4_scales(scales, mins, max_scale, max_min, scales_out);
    d_out = f32_to_f16(max_scale / 63.0f);
    dmin_out = f32_to_f16(max_min / 63.0f);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        k4_scale_min(j, scales_out, sc, m);
        const float d = f16_to_f32(d_out) * float(sc);
        if (d == 0) continue;
        const float dm = f16_to_f32(dmin_out) * float(m);
        for (int l = 0; l < 32; ++l) L[32 * j + l] = uint8_t(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
}

// Value e of a Q4_K / Q5_K super-block uses sub-block e/32; y = d·sc·q − dmin·m.
template <class Level>
void dequantize_k4_superblock(uint16_t d16, uint16_t dmin16, const uint8_t* scales, Level level, float* y) {
    const float d = f16_to_f32(d16), min = f16_to_f32(dmin16);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        k4_scale_min(j, scales, sc, m);
        const float d1 = d * float(sc), m1 = min * float(m);
        for (int l = 0; l < 32; ++l) y[32 * j + l] = d1 * float(level(32 * j + l)) - m1;
    }
}

}  // namespace

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
    const BlockQ2_K* b = static_cast<const BlockQ2_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        const float d = f16_to_f32(b[i].d), min = f16_to_f32(b[i].dmin);
        for (int e = 0; e < kQK_K; ++e) {
            const uint8_t sc = b[i].scales[e / 16];
            const float dl = d * float(sc & 0xF), ml = min * float(sc >> 4);
            dst[e] = dl * float(q2_bits(b[i].qs, e)) - ml;
        }
    }
}

void quantize_q2_k(const float* src, void* dst, int64_t n) {
    BlockQ2_K* b = static_cast<BlockQ2_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        uint8_t L[kQK_K];
        float scales[16], mins[16], weights[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(src[16 * j + l]);
            scales[j] = fit_affine(16, 3, src + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }
        // Sub-block scales and mins as 4-bit multiples of d and dmin.
        if (max_scale > 0) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; ++j) b[i].scales[j] = uint8_t(nearest_int(iscale * scales[j]));
            b[i].d = f32_to_f16(max_scale / 15.0f);
        } else {
            std::memset(b[i].scales, 0, 16);
            b[i].d = f32_to_f16(0.0f);
        }
        if (max_min > 0) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; ++j) b[i].scales[j] = uint8_t(b[i].scales[j] | nearest_int(iscale * mins[j]) << 4);
            b[i].dmin = f32_to_f16(max_min / 15.0f);
        } else {
            b[i].dmin = f32_to_f16(0.0f);
        }
        for (int j = 0; j < 16; ++j) {
            const float d = f16_to_f32(b[i].d) * float(b[i].scales[j] & 0xF);
            if (d == 0) continue;
            const float dm = f16_to_f32(b[i].dmin) * float(b[i].scales[j] >> 4);
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = uint8_t(std::clamp(nearest_int((src[16 * j + l] + dm) / d), 0, 3));
        }
        pack_2bit(L, b[i].qs);
    }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
    const BlockQ3_K* b = static_cast<const BlockQ3_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        const float d = f16_to_f32(b[i].d);
        for (int e = 0; e < kQK_K; ++e) {
            const float dl = d * float(q3k_scale(e / 16, b[i].scales));
            const bool high = b[i].hmask[e % 32] >> (e / 32) & 1;
            dst[e] = dl * float(q2_bits(b[i].qs, e) - (high ? 0 : 4));
        }
    }
}

void quantize_q3_k(const float* src, void* dst, int64_t n) {
    BlockQ3_K* b = static_cast<BlockQ3_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        int8_t L[kQK_K];
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = fit_symmetric_refined(16, 4, src + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        // Signed 6-bit sub-block scales: low nibbles in bytes 0–7, top two bits in bytes 8–11.
        std::memset(b[i].scales, 0, 12);
        if (max_scale != 0) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; ++j) {
                const int l = std::clamp(int(int8_t(nearest_int(iscale * scales[j]))), -32, 31) + 32;
                if (j < 8) b[i].scales[j] = uint8_t(l & 0xF);
                else b[i].scales[j - 8] |= uint8_t((l & 0xF) << 4);
                b[i].scales[j % 4 + 8] |= uint8_t((l >> 4) << (2 * (j / 4)));
            }
            b[i].d = f32_to_f16(1 / iscale);
        } else {
            b[i].d = f32_to_f16(0.0f);
        }
        for (int j = 0; j < 16; ++j) {
            const float d = f16_to_f32(b[i].d) * float(q3k_scale(j, b[i].scales));
            if (d == 0) continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = int8_t(std::clamp(nearest_int(src[16 * j + l] / d), -4, 3) + 4);
        }
        // Levels 4..7 set their bit in hmask (value e: byte e%32, bit e/32) and keep the low two bits.
        std::memset(b[i].hmask, 0, 32);
        uint8_t low[kQK_K];
        for (int e = 0; e < kQK_K; ++e) {
            if (L[e] > 3) b[i].hmask[e % 32] |= uint8_t(1 << (e / 32));
            low[e] = uint8_t(L[e] > 3 ? L[e] - 4 : L[e]);
        }
        pack_2bit(low, b[i].qs);
    }
}

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
    const BlockQ4_K* b = static_cast<const BlockQ4_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        const uint8_t* qs = b[i].qs;
        // Value e: byte 32·(e/64) + e%32, low nibble in the first half of each 64, high in the second.
        dequantize_k4_superblock(b[i].d, b[i].dmin, b[i].scales, [qs](int e) {
            const uint8_t q = qs[32 * (e / 64) + e % 32];
            return (e % 64) < 32 ? q & 0xF : q >> 4;
        }, dst);
    }
}

void quantize_q4_k(const float* src, void* dst, int64_t n) {
    BlockQ4_K* b = static_cast<BlockQ4_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        uint8_t L[kQK_K];
        quantize_k4_superblock(src, 15, -1.0f, 20, b[i].d, b[i].dmin, b[i].scales, L);
        for (int p = 0; p < 4; ++p)
            for (int l = 0; l < 32; ++l) b[i].qs[32 * p + l] = uint8_t(L[64 * p + l] | L[64 * p + 32 + l] << 4);
    }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
    const BlockQ5_K* b = static_cast<const BlockQ5_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        const uint8_t *qs = b[i].qs, *qh = b[i].qh;
        // As Q4_K plus a fifth bit: bit e/32 of qh[e%32].
        dequantize_k4_superblock(b[i].d, b[i].dmin, b[i].scales, [qs, qh](int e) {
            const uint8_t q = qs[32 * (e / 64) + e % 32];
            const int low = (e % 64) < 32 ? q & 0xF : q >> 4;
            return low | ((qh[e % 32] >> (e / 32)) & 1) << 4;
        }, dst);
    }
}

void quantize_q5_k(const float* src, void* dst, int64_t n) {
    BlockQ5_K* b = static_cast<BlockQ5_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        uint8_t L[kQK_K];
        quantize_k4_superblock(src, 31, -0.5f, 15, b[i].d, b[i].dmin, b[i].scales, L);
        std::memset(b[i].qh, 0, 32);
        for (int p = 0; p < 4; ++p) {
            for (int l = 0; l < 32; ++l) {
                const int lo = L[64 * p + l], hi = L[64 * p + 32 + l];
                b[i].qs[32 * p + l] = uint8_t((lo & 0xF) | (hi & 0xF) << 4);
                b[i].qh[l] |= uint8_t((lo >> 4) << (2 * p) | (hi >> 4) << (2 * p + 1));
            }
        }
    }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
    const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        const float d = f16_to_f32(b[i].d);
        for (int e = 0; e < kQK_K; ++e) {
            // Value e = 128h + 32k + l: low nibble from ql[64h + 32(k%2) + l] (high nibble for k ≥ 2),
            // top two bits from bits 2k of qh[32h + l].
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t ql = b[i].ql[64 * h + 32 * (k % 2) + l];
            const int low = k < 2 ? ql & 0xF : ql >> 4;
            const int q = (low | ((b[i].qh[32 * h + l] >> (2 * k)) & 3) << 4) - 32;
            dst[e] = d * float(b[i].scales[e / 16]) * float(q);
        }
    }
}

void quantize_q6_k(const float* src, void* dst, int64_t n) {
    BlockQ6_K* b = static_cast<BlockQ6_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        int8_t L[kQK_K];
        float scales[16];
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = fit_symmetric(16, 32, src + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > max_abs_scale) {
                max_abs_scale = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < kGroupMaxEps) {
            std::memset(&b[i], 0, sizeof(BlockQ6_K));
            continue;
        }
        // int8 sub-block scales; the largest maps to −128 (clamped to 127 on the positive side).
        const float iscale = -128.0f / max_scale;
        b[i].d = f32_to_f16(1 / iscale);
        for (int j = 0; j < 16; ++j) b[i].scales[j] = int8_t(std::min(127, nearest_int(iscale * scales[j])));
        for (int j = 0; j < 16; ++j) {
            const float d = f16_to_f32(b[i].d) * float(b[i].scales[j]);
            if (d == 0) continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = int8_t(std::clamp(nearest_int(src[16 * j + l] / d), -32, 31) + 32);
        }
        for (int h = 0; h < 2; ++h) {
            const int8_t* Lh = L + 128 * h;
            uint8_t* ql = b[i].ql + 64 * h;
            uint8_t* qh = b[i].qh + 32 * h;
            for (int l = 0; l < 32; ++l) {
                ql[l] = uint8_t((Lh[l] & 0xF) | (Lh[l + 64] & 0xF) << 4);
                ql[l + 32] = uint8_t((Lh[l + 32] & 0xF) | (Lh[l + 96] & 0xF) << 4);
                qh[l] = uint8_t(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 | (Lh[l + 96] >> 4) << 6);
            }
        }
    }
}

}  // namespace sluice::quant
