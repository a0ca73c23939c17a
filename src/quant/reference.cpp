// dequantize_row_ref / quantize_row_ref: dispatch to the per-type references of
// row_conversions.h. Fast kernels are tested against these.
#include <cstring>

#include "quant/row_conversions.h"
#include "quant/types.h"
#include "util/error.h"

namespace sluice {

namespace {

struct RowConversions {
    void (*dequantize)(const void*, float*, int64_t);
    void (*quantize)(const float*, void*, int64_t);
};

RowConversions conversions(GgmlType t) {
    using namespace quant;
    switch (t) {
        case GgmlType::F16: return {dequantize_f16, quantize_f16};
        case GgmlType::BF16: return {dequantize_bf16, quantize_bf16};
        case GgmlType::Q4_0: return {dequantize_q4_0, quantize_q4_0};
        case GgmlType::Q4_1: return {dequantize_q4_1, quantize_q4_1};
        case GgmlType::Q5_0: return {dequantize_q5_0, quantize_q5_0};
        case GgmlType::Q5_1: return {dequantize_q5_1, quantize_q5_1};
        case GgmlType::Q8_0: return {dequantize_q8_0, quantize_q8_0};
        case GgmlType::Q8_1: return {dequantize_q8_1, quantize_q8_1};
        case GgmlType::Q8_K: return {dequantize_q8_k, quantize_q8_k};
        case GgmlType::Q2_K: return {dequantize_q2_k, quantize_q2_k};
        case GgmlType::Q3_K: return {dequantize_q3_k, quantize_q3_k};
        case GgmlType::Q4_K: return {dequantize_q4_k, quantize_q4_k};
        case GgmlType::Q5_K: return {dequantize_q5_k, quantize_q5_k};
        case GgmlType::Q6_K: return {dequantize_q6_k, quantize_q6_k};
        case GgmlType::IQ4_NL: return {dequantize_iq4_nl, quantize_iq4_nl};
        case GgmlType::IQ4_XS: return {dequantize_iq4_xs, quantize_iq4_xs};
        case GgmlType::MXFP4: return {dequantize_mxfp4, quantize_mxfp4};
        case GgmlType::IQ2_XXS: return {dequantize_iq2_xxs, quantize_iq2_xxs};
        case GgmlType::IQ2_XS: return {dequantize_iq2_xs, nullptr};
        case GgmlType::IQ2_S: return {dequantize_iq2_s, nullptr};
        case GgmlType::IQ3_XXS: return {dequantize_iq3_xxs, nullptr};
        case GgmlType::IQ3_S: return {dequantize_iq3_s, nullptr};
        case GgmlType::IQ1_S: return {dequantize_iq1_s, nullptr};
        case GgmlType::IQ1_M: return {dequantize_iq1_m, nullptr};
        default: return {nullptr, nullptr};
    }
}

void check_whole_blocks(GgmlType t, int64_t n) {
    if (n % type_info(t).block_size != 0)
        fail("{} values are not a whole number of {} blocks", n, type_name(t));
}

}  // namespace

void dequantize_row_ref(GgmlType t, const void* src, float* dst, int64_t n) {
    if (t == GgmlType::F32) {
        std::memcpy(dst, src, size_t(n) * 4);
        return;
    }
    const RowConversions c = conversions(t);
    if (!c.dequantize) fail("dequantisation of type {} is not supported", type_name(t));
    check_whole_blocks(t, n);
    c.dequantize(src, dst, n);
}

bool can_quantize(GgmlType t) { return t == GgmlType::F32 || conversions(t).quantize != nullptr; }

void quantize_row_ref(GgmlType t, const float* src, void* dst, int64_t n) {
    if (t == GgmlType::F32) {
        std::memcpy(dst, src, size_t(n) * 4);
        return;
    }
    const RowConversions c = conversions(t);
    if (!c.quantize) fail("quantisation to type {} is not supported", type_name(t));
    check_whole_blocks(t, n);
    c.quantize(src, dst, n);
}

}  // namespace sluice
