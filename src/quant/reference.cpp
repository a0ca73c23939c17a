// Scalar reference conversions, one function per type, dispatched by dequantize_row_ref /
// quantize_row_ref. Fast kernels are tested against these.
#include <cstring>

#include "quant/types.h"
#include "util/error.h"
#include "util/half.h"

namespace sluice {

void dequantize_row_ref(GgmlType t, const void* src, float* dst, int64_t n) {
    switch (t) {
        case GgmlType::F32:
            std::memcpy(dst, src, size_t(n) * 4);
            return;
        case GgmlType::F16: {
            const uint16_t* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
            return;
        }
        case GgmlType::BF16: {
            const uint16_t* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
            return;
        }
        default:
            fail("dequantisation of type {} is not supported", type_name(t));
    }
}

void quantize_row_ref(GgmlType t, const float* src, void* dst, int64_t n) {
    switch (t) {
        case GgmlType::F32:
            std::memcpy(dst, src, size_t(n) * 4);
            return;
        case GgmlType::F16: {
            uint16_t* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
            return;
        }
        case GgmlType::BF16: {
            uint16_t* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
            return;
        }
        default:
            fail("quantisation to type {} is not supported", type_name(t));
    }
}

}  // namespace sluice
