// MXFP4 (OCP microscaling FP4, gpt-oss's expert format): 32 E2M1 values sharing one E8M0
// power-of-two scale (§C.5). ggml stores the values doubled (kMxfp4Values) and halves the scale.
#include <cmath>

#include "quant/blocks.h"
#include "quant/mxfp4_layout.h"
#include "quant/row_conversions.h"

namespace sluice::quant {

namespace {

// The code whose value times d is nearest to x; the first on a tie (ggml's best_index_mxfp4,
// whose error compare order decides ties: +0 before −0, lower codes first).
uint8_t nearest_code(float x, float d) {
    uint8_t best = 0;
    float best_err = std::fabs(float(kMxfp4Values[0]) * d - x);
    for (uint8_t i = 1; i < 16; ++i) {
        const float err = std::fabs(float(kMxfp4Values[i]) * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

// ggml's exponent: floor(log2(amax)) − 2 + 127, so the largest level (12·2^(e−128) = 1.5·2^⌊log2 amax⌋)
// is near amax. Below 2^-125 ggml's float → uint8 conversion is undefined; such a block gets 0.
uint8_t shared_exponent(float amax) {
    if (!(amax > 0.0f)) return 0;
    const float e = std::floor(std::log2(amax)) - 2 + 127;
    return e < 0 ? 0 : uint8_t(e);
}

}  // namespace

void dequantize_mxfp4(const void* src, float* dst, int64_t n) {
    const BlockMXFP4* b = static_cast<const BlockMXFP4*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = e8m0_half(b[i].e);
        for (int j = 0; j < 16; ++j) {
            dst[j] = float(kMxfp4Values[b[i].qs[j] & 0xF]) * d;
            dst[j + 16] = float(kMxfp4Values[b[i].qs[j] >> 4]) * d;
        }
    }
}

void quantize_mxfp4(const float* src, void* dst, int64_t n) {
    BlockMXFP4* b = static_cast<BlockMXFP4*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        float amax = 0.0f;
        for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(src[j]));
        b[i].e = shared_exponent(amax);
        const float d = e8m0_half(b[i].e);
        for (int j = 0; j < 16; ++j) b[i].qs[j] = uint8_t(nearest_code(src[j], d) | nearest_code(src[j + 16], d) << 4);
    }
}

}  // namespace sluice::quant

namespace sluice::quant {

void mxfp4_from_hf(const uint8_t* blocks, const uint8_t* scales, int64_t n_blocks, void* dst) {
    BlockMXFP4* b = static_cast<BlockMXFP4*>(dst);
    for (int64_t i = 0; i < n_blocks; ++i, blocks += 16) {
        uint8_t code[32];
        for (int k = 0; k < 16; ++k) {
            code[2 * k] = blocks[k] & 0xF;
            code[2 * k + 1] = blocks[k] >> 4;
        }
        b[i].e = scales[i];
        for (int j = 0; j < 16; ++j) b[i].qs[j] = uint8_t(code[j] | code[j + 16] << 4);
    }
}

}  // namespace sluice::quant
