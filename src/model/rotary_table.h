// RoPE frequencies given as a table, for the rotations that are not plain NeoX with a base
// (model/blocks.h): YaRN's blend of interpolated and original frequencies (DeepSeek-V3), with
// adjacent pairs (2i, 2i+1) rotated as DeepSeek's reference code and llama.cpp's deepseek2 do.
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_desc.h"

namespace sluice {

struct RotaryTable {
    std::vector<double> inv_freq;   // one per rotated pair: the head's width is 2·inv_freq.size()
    double scale = 1;               // multiplies cos and sin (YaRN's attention factor)
};

// The frequencies of `dims` rotated dims with base `theta`, under c.yarn when its factor is set.
RotaryTable rotary_table(const ModelConfig& c, int64_t dims);

// Rotates every head of x [n, heads · 2·table.inv_freq.size()] by pairs (2i, 2i+1) at positions pos0...
void rope_pairs(float* x, int64_t n, int64_t heads, const RotaryTable& table, int64_t pos0);

}  // namespace sluice
