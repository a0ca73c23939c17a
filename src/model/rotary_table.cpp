#include "model/rotary_table.h"

#include <algorithm>
#include <cmath>

namespace sluice {

namespace {

// The dimension whose wavelength turns `rotations` times over the original context
// (transformers' find_correction_dim).
double correction_dim(double rotations, int64_t dims, double base, int64_t context) {
    return double(dims) * std::log(double(context) / (rotations * 2 * M_PI)) / (2 * std::log(base));
}

}  // namespace

RotaryTable rotary_table(const ModelConfig& c, int64_t dims) {
    RotaryTable t;
    const int64_t half = dims / 2;
    const double base = c.rope_theta;
    for (int64_t i = 0; i < half; ++i) t.inv_freq.push_back(std::pow(base, -2.0 * double(i) / double(dims)));
    const Yarn& y = c.yarn;
    if (y.factor <= 0) return t;
    // transformers' _compute_yarn_parameters (truncated correction range, as llama.cpp's too).
    const double low = std::max(0.0, std::floor(correction_dim(y.beta_fast, dims, base, y.original_context)));
    const double high = std::min(double(dims - 1), std::ceil(correction_dim(y.beta_slow, dims, base, y.original_context)));
    const double span = high == low ? 0.001 : high - low;
    for (int64_t i = 0; i < half; ++i) {
        const double ramp = std::clamp((double(i) - low) / span, 0.0, 1.0);
        const double extrapolation = 1 - ramp;   // share of the original frequency
        const double f = t.inv_freq[size_t(i)];
        t.inv_freq[size_t(i)] = f / y.factor * (1 - extrapolation) + f * extrapolation;
    }
    t.scale = y.rope_scale;
    return t;
}

void rope_pairs(float* x, int64_t n, int64_t heads, const RotaryTable& table, int64_t pos0) {
    const int64_t half = int64_t(table.inv_freq.size()), width = 2 * half;
    std::vector<double> cosv(static_cast<size_t>(half)), sinv(static_cast<size_t>(half));
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < half; ++i) {
            const double a = double(pos0 + t) * table.inv_freq[size_t(i)];
            cosv[size_t(i)] = std::cos(a) * table.scale;
            sinv[size_t(i)] = std::sin(a) * table.scale;
        }
        for (int64_t h = 0; h < heads; ++h) {
            float* v = x + (t * heads + h) * width;
            for (int64_t i = 0; i < half; ++i) {
                const double a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = float(a * cosv[size_t(i)] - b * sinv[size_t(i)]);
                v[2 * i + 1] = float(b * cosv[size_t(i)] + a * sinv[size_t(i)]);
            }
        }
    }
}

}  // namespace sluice
