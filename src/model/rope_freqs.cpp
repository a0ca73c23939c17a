#include "model/rope_freqs.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace sluice {

namespace {

// The dimension whose wavelength turns `rotations` times over the original context
// (transformers' find_correction_dim).
double correction_dim(double rotations, int64_t dims, double base, int64_t context) {
    return double(dims) * std::log(double(context) / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

}  // namespace

RopeFreqs rope_freqs(const ModelConfig& c, int64_t dims) {
    RopeFreqs f;
    const int64_t half = dims / 2;
    const double base = c.rope_theta;
    for (int64_t i = 0; i < half; ++i) f.inv_freq.push_back(std::pow(base, -2.0 * double(i) / double(dims)));
    const Yarn& y = c.yarn;
    if (y.factor <= 0) return f;
    double low = correction_dim(y.beta_fast, dims, base, y.original_context);
    double high = correction_dim(y.beta_slow, dims, base, y.original_context);
    if (y.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, double(dims - 1));
    const double span = high == low ? 0.001 : high - low;
    for (int64_t i = 0; i < half; ++i) {
        // Below `low` the original frequency (extrapolation), above `high` the interpolated one.
        const double interpolated_share = std::clamp((double(i) - low) / span, 0.0, 1.0);
        const double freq = f.inv_freq[size_t(i)];
        f.inv_freq[size_t(i)] = freq / y.factor * interpolated_share + freq * (1 - interpolated_share);
    }
    f.scale = y.rope_scale;
    return f;
}

void rope_neox_freqs(float* x, int64_t n, int64_t heads, const RopeFreqs& f, int64_t pos0) {
    const int64_t half = int64_t(f.inv_freq.size()), width = 2 * half;
    std::vector<double> cosv(static_cast<size_t>(half)), sinv(static_cast<size_t>(half));
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < half; ++i) {
            const double a = double(pos0 + t) * f.inv_freq[size_t(i)];
            cosv[size_t(i)] = std::cos(a) * f.scale;
            sinv[size_t(i)] = std::sin(a) * f.scale;
        }
        for (int64_t h = 0; h < heads; ++h) {
            float* v = x + (t * heads + h) * width;
            for (int64_t i = 0; i < half; ++i) {
                const double a = v[i], b = v[i + half];
                v[i] = float(a * cosv[size_t(i)] - b * sinv[size_t(i)]);
                v[i + half] = float(b * cosv[size_t(i)] + a * sinv[size_t(i)]);
            }
        }
    }
}

}  // namespace sluice
