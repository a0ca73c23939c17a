// Q4_0, Q4_1, Q5_0, Q5_1: blocks of 32 values with one half-precision scale (and a minimum for
// the _1 types); low nibbles hold the first 16 values, high nibbles the last 16 (§C.5).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/row_conversions.h"
#include "util/half.h"

namespace sluice::quant {

namespace {

// The element of largest magnitude with its sign (the first one on ties).
float signed_absmax32(const float* x) {
    float amax = 0, max = 0;
    for (int j = 0; j < kQK; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

void min_max32(const float* x, float& min, float& max) {
    min = FLT_MAX;
    max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
}

// Bit 4 of value j (0..31) of a Q5 block.
int high_bit(const uint8_t* qh, int j) {
    uint32_t h;
    std::memcpy(&h, qh, 4);
    return (h >> j) & 1;
}

void set_high_bits(uint8_t* qh, const int* q) {
    uint32_t h = 0;
    for (int j = 0; j < kQK; ++j) h |= uint32_t((q[j] >> 4) & 1) << j;
    std::memcpy(qh, &h, 4);
}

}  // namespace

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
    const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < 16; ++j) {
            dst[j] = float((b[i].qs[j] & 0xF) - 8) * d;
            dst[j + 16] = float((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void quantize_q4_0(const float* src, void* dst, int64_t n) {
    BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        // The largest magnitude maps to −8 exactly, so its sign picks the scale's sign.
        const float d = signed_absmax32(src) / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        for (int j = 0; j < 16; ++j) {
            const int lo = std::min(15, int(src[j] * id + 8.5f));
            const int hi = std::min(15, int(src[j + 16] * id + 8.5f));
            b[i].qs[j] = uint8_t(lo | hi << 4);
        }
    }
}

void dequantize_q4_1(const void* src, float* dst, int64_t n) {
    const BlockQ4_1* b = static_cast<const BlockQ4_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
        for (int j = 0; j < 16; ++j) {
            dst[j] = float(b[i].qs[j] & 0xF) * d + m;
            dst[j + 16] = float(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void quantize_q4_1(const float* src, void* dst, int64_t n) {
    BlockQ4_1* b = static_cast<BlockQ4_1*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        float min, max;
        min_max32(src, min, max);
        const float d = (max - min) / 15;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        b[i].m = f32_to_f16(min);
        for (int j = 0; j < 16; ++j) {
            const int lo = std::min(15, int((src[j] - min) * id + 0.5f));
            const int hi = std::min(15, int((src[j + 16] - min) * id + 0.5f));
            b[i].qs[j] = uint8_t(lo | hi << 4);
        }
    }
}

void dequantize_q5_0(const void* src, float* dst, int64_t n) {
    const BlockQ5_0* b = static_cast<const BlockQ5_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < 16; ++j) {
            dst[j] = float(((b[i].qs[j] & 0xF) | high_bit(b[i].qh, j) << 4) - 16) * d;
            dst[j + 16] = float(((b[i].qs[j] >> 4) | high_bit(b[i].qh, j + 16) << 4) - 16) * d;
        }
    }
}

void quantize_q5_0(const float* src, void* dst, int64_t n) {
    BlockQ5_0* b = static_cast<BlockQ5_0*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        const float d = signed_absmax32(src) / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        int q[kQK];
        for (int j = 0; j < kQK; ++j) q[j] = std::min(31, int(src[j] * id + 16.5f));
        for (int j = 0; j < 16; ++j) b[i].qs[j] = uint8_t((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
        set_high_bits(b[i].qh, q);
    }
}

void dequantize_q5_1(const void* src, float* dst, int64_t n) {
    const BlockQ5_1* b = static_cast<const BlockQ5_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
        for (int j = 0; j < 16; ++j) {
            dst[j] = float((b[i].qs[j] & 0xF) | high_bit(b[i].qh, j) << 4) * d + m;
            dst[j + 16] = float((b[i].qs[j] >> 4) | high_bit(b[i].qh, j + 16) << 4) * d + m;
        }
    }
}

void quantize_q5_1(const float* src, void* dst, int64_t n) {
    BlockQ5_1* b = static_cast<BlockQ5_1*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        float min, max;
        min_max32(src, min, max);
        const float d = (max - min) / 31;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        b[i].m = f32_to_f16(min);
        int q[kQK];
        for (int j = 0; j < kQK; ++j) q[j] = int((src[j] - min) * id + 0.5f);
        for (int j = 0; j < 16; ++j) b[i].qs[j] = uint8_t((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
        set_high_bits(b[i].qh, q);
    }
}

}  // namespace sluice::quant
