// The DeltaNet inner loops in plain C++ (the compiler vectorises the column loops); also the
// readable statement of what the AVX-512 versions do.
#include <algorithm>
#include <cmath>

#include "kernels/deltanet_kernels.h"

namespace sluice::deltanet_detail {

void scan_tile_portable(const ScanTile& p) {
    const int w = p.width;
    float m[kScanWidth] = {};  // Sᵀk of the coming token, before its decay
    float delta[kScanWidth], o[kScanWidth], m_next[kScanWidth];

    for (int i = 0; i < p.k_dim; ++i) {
        const float* __restrict row = p.S + i * p.s_stride;
        for (int j = 0; j < w; ++j) m[j] += p.k[i] * row[j];
    }
    for (int64_t t = 0; t < p.n_tokens; ++t) {
        const float* __restrict q = p.q + t * p.qk_stride;
        const float* __restrict k = p.k + t * p.qk_stride;
        // The last token has no successor; its prediction pass reads its own k and is dropped.
        const float* __restrict k_next = t + 1 < p.n_tokens ? k + p.qk_stride : k;
        const float* __restrict v = p.v + t * p.v_stride;
        const float d = p.decay[t * p.gate_stride], beta = p.beta[t * p.gate_stride];

        for (int j = 0; j < w; ++j) {
            delta[j] = beta * (v[j] - d * m[j]);
            o[j] = 0;
            m_next[j] = 0;
        }
        for (int i = 0; i < p.k_dim; ++i) {
            float* __restrict row = p.S + i * p.s_stride;
            const float ki = k[i], qi = q[i], ni = k_next[i];
            for (int j = 0; j < w; ++j) {
                const float s = d * row[j] + ki * delta[j];
                row[j] = s;
                o[j] += qi * s;
                m_next[j] += ni * s;
            }
        }
        std::copy(o, o + w, p.out + t * p.out_stride);
        std::copy(m_next, m_next + w, m);
    }
}

void silu_portable(const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void conv_silu_portable(const float* const* inputs, const float* taps, int64_t tap_stride, int kc, float* dst,
                        int64_t n) {
    std::fill(dst, dst + n, 0.0f);
    for (int j = 0; j < kc; ++j) {
        const float* __restrict x = inputs[j];
        const float* __restrict w = taps + j * tap_stride;
        float* __restrict y = dst;
        for (int64_t i = 0; i < n; ++i) y[i] += w[i] * x[i];
    }
    silu_portable(dst, dst, n);
}

}  // namespace sluice::deltanet_detail
