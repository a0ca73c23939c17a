// RoPE with its frequencies given as a table (gpt-oss's YaRN): the rotation angle of pair i at
// position p is p·inv_freq[i], and cos and sin are multiplied by `scale` (YaRN's attention
// factor, which scales every q·k by its square).
#pragma once
#include <cstdint>
#include <vector>

#include "format/model_desc.h"

namespace sluice {

struct RopeFreqs {
    std::vector<double> inv_freq;   // one per rotated pair
    double scale = 1;
};

// The frequencies of `dims` rotated dims with base c.rope_theta, blended by c.yarn when its
// factor is set (transformers' _compute_yarn_parameters, with its `truncate` choice).
RopeFreqs rope_freqs(const ModelConfig& c, int64_t dims);

// NeoX-style rotation (pairs i, i + half) of every head of x [n, heads, 2·half], half =
// f.inv_freq.size(); token t at position pos0 + t.
void rope_neox_freqs(float* x, int64_t n, int64_t heads, const RopeFreqs& f, int64_t pos0);

}  // namespace sluice
