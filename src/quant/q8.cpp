// 8-bit types: Q8_0 (weights), and Q8_1 / Q8_K, which llama.cpp uses only for activations
// (§C.5–C.7): the kernels' activation formats and the reference they are tested against.
#include <algorithm>
#include <cmath>

#include "quant/blocks.h"
#include "quant/row_conversions.h"
#include "quant/scale_search.h"
#include "util/half.h"

namespace sluice::quant {

namespace {

float absmax(const float* x, int n) {
    float amax = 0;
    for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
    return amax;
}

}  // namespace

void dequantize_q8_0(const void* src, float* dst, int64_t n) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK; ++j) dst[j] = float(b[i].qs[j]) * d;
    }
}

// roundf (half away from zero) and a multiply by 1/d, as llama.cpp's reference.
void quantize_q8_0(const float* src, void* dst, int64_t n) {
    BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        const float d = absmax(src, kQK) / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        for (int j = 0; j < kQK; ++j) b[i].qs[j] = int8_t(std::round(src[j] * id));
    }
}

void dequantize_q8_1(const void* src, float* dst, int64_t n) {
    const BlockQ8_1* b = static_cast<const BlockQ8_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK; ++j) dst[j] = float(b[i].qs[j]) * d;
    }
}

void quantize_q8_1(const float* src, void* dst, int64_t n) {
    BlockQ8_1* b = static_cast<BlockQ8_1*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        const float d = absmax(src, kQK) / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < kQK; ++j) {
            b[i].qs[j] = int8_t(std::round(src[j] * id));
            sum += b[i].qs[j];
        }
        b[i].s = f32_to_f16(float(sum) * d);
    }
}

void dequantize_q8_k(const void* src, float* dst, int64_t n) {
    const BlockQ8_K* b = static_cast<const BlockQ8_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K)
        for (int j = 0; j < kQK_K; ++j) dst[j] = b[i].d * float(b[i].qs[j]);
}

// The largest magnitude maps to ∓127 (so d has the opposite sign of that value), ties to even.
void quantize_q8_k(const float* src, void* dst, int64_t n) {
    BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < kQK_K; ++j) {
            if (std::fabs(src[j]) > amax) {
                amax = std::fabs(src[j]);
                max = src[j];
            }
        }
        if (amax == 0) {
            b[i] = BlockQ8_K{};
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < kQK_K; ++j) b[i].qs[j] = int8_t(std::min(127, nearest_int(iscale * src[j])));
        for (int g = 0; g < kQK_K / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += b[i].qs[16 * g + j];
            b[i].bsums[g] = int16_t(sum);
        }
        b[i].d = 1 / iscale;
    }
}

}  // namespace sluice::quant
