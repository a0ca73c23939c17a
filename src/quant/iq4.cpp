// IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-uniform grid of 16 int8 values, with one
// half-precision scale per 32 values (IQ4_NL) or a 6-bit scale per 32 under a half-precision
// super-scale per 256 (IQ4_XS) (§C.5).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/row_conversions.h"
#include "quant/scale_search.h"
#include "util/half.h"

namespace sluice::quant {

namespace {

// Scale candidates tried on each side of the plain one (llama-quantize's setting).
constexpr int kTries = 7;

// Index of the grid value nearest to x; a tie goes to the upper value.
int nearest_grid_index(float x) {
    const int8_t* v = kIq4Values;
    if (x <= v[0]) return 0;
    if (x >= v[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (x < v[mid]) hi = mid;
        else lo = mid;
    }
    return x - float(v[hi - 1]) < float(v[hi]) - x ? hi - 1 : hi;
}

// x²-weighted least-squares scale of 32 values against the grid, trying the scale that maps the
// largest |x| to +127 and 15 that map it near −127 (llama.cpp's IQ4 search without an importance
// matrix). Returns 0 for an all-zero group.
float fit_grid_scale(const float* x) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    if (amax < kGroupMaxEps) return 0.0f;
    // Σw·q·x and Σw·q² for the grid points one inverse scale picks (w = x²).
    auto sums = [x](float id, float& sumqx, float& sumq2) {
        sumqx = sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            const float q = kIq4Values[nearest_grid_index(id * x[j])], w = x[j] * x[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
    };
    float sumqx, sumq2;
    sums(1 / (-max / float(kIq4Values[0])), sumqx, sumq2);
    float d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int t = -kTries; t <= kTries; ++t) {
        sums(float(t + kIq4Values[0]) / max, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

void pack_nibbles(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = uint8_t(L[j] | L[16 + j] << 4);
}

}  // namespace

void dequantize_iq4_nl(const void* src, float* dst, int64_t n) {
    const BlockIQ4_NL* b = static_cast<const BlockIQ4_NL*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < 16; ++j) {
            dst[j] = d * float(kIq4Values[b[i].qs[j] & 0xF]);
            dst[j + 16] = d * float(kIq4Values[b[i].qs[j] >> 4]);
        }
    }
}

void quantize_iq4_nl(const float* src, void* dst, int64_t n) {
    BlockIQ4_NL* b = static_cast<BlockIQ4_NL*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        uint8_t L[kQK];
        const float d = fit_grid_scale(src);
        b[i].d = f32_to_f16(d);
        // Re-pick the indices for the winning scale (in float, before its rounding to half).
        const float id = d != 0 ? 1 / d : 0.0f;
        for (int j = 0; j < kQK; ++j) L[j] = uint8_t(nearest_grid_index(id * src[j]));
        pack_nibbles(L, b[i].qs);
    }
}

void dequantize_iq4_xs(const void* src, float* dst, int64_t n) {
    const BlockIQ4_XS* b = static_cast<const BlockIQ4_XS*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int s = 0; s < 8; ++s, dst += 32) {
            const float dl = d * float(iq4xs_scale(b[i], s));
            const uint8_t* qs = b[i].qs + 16 * s;
            for (int j = 0; j < 16; ++j) {
                dst[j] = dl * float(kIq4Values[qs[j] & 0xF]);
                dst[j + 16] = dl * float(kIq4Values[qs[j] >> 4]);
            }
        }
    }
}

void quantize_iq4_xs(const float* src, void* dst, int64_t n) {
    BlockIQ4_XS* b = static_cast<BlockIQ4_XS*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        float scales[8];
        uint8_t L[kQK_K];
        float max_scale = 0, amax_scale = 0;
        for (int s = 0; s < 8; ++s) {
            scales[s] = fit_grid_scale(src + 32 * s);
            if (std::fabs(scales[s]) > amax_scale) {
                amax_scale = std::fabs(scales[s]);
                max_scale = scales[s];
            }
        }
        // Sub-block scales as signed 6-bit multiples of d (the largest maps to −32), then the
        // indices re-picked against each scale as stored.
        const float d = -max_scale / 32;
        b[i].d = f32_to_f16(d);
        b[i].scales_h = 0;
        std::memset(b[i].scales_l, 0, 4);
        const float id = d != 0 ? 1 / d : 0.0f;
        for (int s = 0; s < 8; ++s) {
            const int l = std::clamp(nearest_int(id * scales[s]), -32, 31);
            const float dl = d * float(l);
            const float idl = dl != 0 ? 1 / dl : 0.0f;
            for (int j = 0; j < 32; ++j) L[32 * s + j] = uint8_t(nearest_grid_index(idl * src[32 * s + j]));
            b[i].scales_l[s / 2] |= uint8_t(((l + 32) & 0xF) << (4 * (s % 2)));
            b[i].scales_h |= uint16_t(((l + 32) >> 4) << (2 * s));
        }
        for (int s = 0; s < 8; ++s) pack_nibbles(L + 32 * s, b[i].qs + 16 * s);
    }
}

}  // namespace sluice::quant
