// F16 and BF16 rows: exact widening, round-to-nearest-even narrowing (model-spec §C.4).
#include "quant/row_conversions.h"
#include "util/half.h"

namespace sluice::quant {

void dequantize_f16(const void* src, float* dst, int64_t n) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
}

void quantize_f16(const float* src, void* dst, int64_t n) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
}

void dequantize_bf16(const void* src, float* dst, int64_t n) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}

void quantize_bf16(const float* src, void* dst, int64_t n) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
}

}  // namespace sluice::quant
