// MXFP4 as Hugging Face checkpoints store it (gpt-oss's `*_blocks` / `*_scales`): per row, the
// 4-bit codes of each 32 values in 16 bytes, value 2k in the low and 2k+1 in the high nibble of
// byte k, and the E8M0 exponents in a tensor of their own. ggml's MXFP4 block is the same codes
// and exponent (its doubled values and halved scale multiply out the same) with the exponent
// first and value j in the low, j+16 in the high nibble of byte j (llama.cpp's converter,
// conversion/gpt_oss.py: transform_nibble_layout).
#pragma once
#include <cstdint>

namespace sluice::quant {

// n_blocks blocks of 32 values: blocks [n_blocks, 16] and scales [n_blocks] → ggml MXFP4.
void mxfp4_from_hf(const uint8_t* blocks, const uint8_t* scales, int64_t n_blocks, void* dst);

}  // namespace sluice::quant
