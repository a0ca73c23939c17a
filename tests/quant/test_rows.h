// Rows of test data for the quantisers: Gaussian values whose scale changes from block to
// block, with the awkward blocks mixed in (all zero, constant, one outlier, all positive, all
// negative, tiny values whose scales are half-precision subnormals, exact ties).
#pragma once
#include <cmath>
#include <random>
#include <vector>

namespace sluice::test {

inline std::vector<float> quant_test_row(int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> log_scale(-4.0f, 3.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t b = 0; b < n / 32; ++b) {
        float* v = x.data() + b * 32;
        const float scale = std::exp2(log_scale(rng));
        const int kind = int(rng() % 12);
        for (int j = 0; j < 32; ++j) {
            switch (kind) {
                case 0: v[j] = 0.0f; break;
                case 1: v[j] = 0.75f * scale; break;
                case 2: v[j] = j == 7 ? 40.0f * scale : scale * normal(rng); break;
                case 3: v[j] = std::fabs(scale * normal(rng)) + scale; break;
                case 4: v[j] = -std::fabs(scale * normal(rng)) - 0.5f * scale; break;
                case 5: v[j] = 1e-7f * normal(rng); break;
                case 6: v[j] = float(int(rng() % 17) - 8) * 0.25f; break;  // many exact halves
                default: v[j] = scale * normal(rng); break;
            }
        }
    }
    return x;
}

}  // namespace sluice::test
