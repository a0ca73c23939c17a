// NaN-aware error maxima for every test that bounds an error. std::max(worst, diff) drops a NaN
// diff (NaN > x is false), so an all-NaN output would score 0 and pass any bound; here a NaN
// makes the maximum NaN, which fails every EXPECT_LE.
#pragma once
#include <cmath>
#include <cstddef>

namespace sluice::test {

// The larger of `worst` and `diff`, NaN once either is NaN.
template <typename T>
T worse(T worst, T diff) {
    if (std::isnan(worst)) return worst;
    return std::isnan(diff) || diff > worst ? diff : worst;
}

// max |a[i] − b[i]|, NaN when any difference is NaN (an infinite one stays infinite).
inline float max_abs_diff(const float* a, const float* b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; ++i) m = worse(m, std::fabs(a[i] - b[i]));
    return m;
}

}  // namespace sluice::test
