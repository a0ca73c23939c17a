// RoPE frequencies given as a table, for the rotations that are not plain NeoX with a base
// (model/blocks.h): YaRN's blend of interpolated and original frequencies (gpt-oss, DeepSeek-V3),
// applied to NeoX halves (i, i + half: gpt-oss) or to adjacent pairs (2i, 2i+1: DeepSeek's
// reference code and llama.cpp's deepseek2).
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_desc.h"

namespace sluice {

struct RotaryTable {
    std::vector<double> inv_freq;   // one per rotated pair: the head's width is 2·inv_freq.size()
    double scale = 1;               // multiplies cos and sin (YaRN's attention factor)
};

// The frequencies of `dims` rotated dims with base c.rope_theta, blended by c.yarn when its
// factor is set (transformers' _compute_yarn_parameters, with its `truncate` choice).
RotaryTable rotary_table(const ModelConfig& c, int64_t dims);

// Rotates every head of x [n, heads · 2·table.inv_freq.size()] at positions pos0...: by NeoX
// halves (i, i + half), or by adjacent pairs (2i, 2i+1).
void rope_halves(float* x, int64_t n, int64_t heads, const RotaryTable& table, int64_t pos0);
void rope_pairs(float* x, int64_t n, int64_t heads, const RotaryTable& table, int64_t pos0);

}  // namespace sluice
