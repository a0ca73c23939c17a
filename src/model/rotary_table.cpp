#include "model/rotary_table.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

namespace sluice {

namespace {

// The dimension whose wavelength turns `rotations` times over the original context
// (transformers' find_correction_dim).
double correction_dim(double rotations, int64_t dims, double base, int64_t context) {
    return double(dims) * std::log(double(context) / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

// Rotates pair i of every head, its two values at pair(i, half), by position · inv_freq[i].
template <class Pair>
void rotate(float* x, int64_t n, int64_t heads, const RotaryTable& table, int64_t pos0, Pair pair) {
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
                const auto [i0, i1] = pair(i, half);
                const double a = v[i0], b = v[i1];
                v[i0] = float(a * cosv[size_t(i)] - b * sinv[size_t(i)]);
                v[i1] = float(b * cosv[size_t(i)] + a * sinv[size_t(i)]);
            }
        }
    }
}

}  // namespace

RotaryTable rotary_table(const ModelConfig& c, int64_t dims) {
    RotaryTable t;
    const int64_t half = dims / 2;
    const double base = c.rope_theta;
    for (int64_t i = 0; i < half; ++i) t.inv_freq.push_back(std::pow(base, -2.0 * double(i) / double(dims)));
    const Yarn& y = c.yarn;
    if (y.factor <= 0) return t;
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
        const double f = t.inv_freq[size_t(i)];
        t.inv_freq[size_t(i)] = f / y.factor * interpolated_share + f * (1 - interpolated_share);
    }
    t.scale = y.rope_scale;
    return t;
}

void rope_halves(float* x, int64_t n, int64_t heads, const RotaryTable& table, int64_t pos0) {
    rotate(x, n, heads, table, pos0, [](int64_t i, int64_t half) { return std::pair{i, i + half}; });
}

void rope_pairs(float* x, int64_t n, int64_t heads, const RotaryTable& table, int64_t pos0) {
    rotate(x, n, heads, table, pos0, [](int64_t i, int64_t) { return std::pair{2 * i, 2 * i + 1}; });
}

}  // namespace sluice
