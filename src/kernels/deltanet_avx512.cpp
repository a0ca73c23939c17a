// The prefill scan with AVX-512: a slice row of up to 32 columns is two zmm registers (masked
// when narrower), and rows are taken two at a time with separate accumulators so the o and
// prediction sums are not one long chain of dependent FMAs.
#include <immintrin.h>

#include "kernels/deltanet_scan.h"

namespace sluice::deltanet_detail {

namespace {

struct Masks {
    __mmask16 lo, hi;
};

Masks masks_for(int width) {
    auto bits = [](int n) { return n <= 0 ? __mmask16(0) : n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); };
    return {bits(width), bits(width - 16)};
}

}  // namespace

void scan_tile_avx512(const ScanTile& p) {
    const Masks mk = masks_for(p.width);
    auto load = [&](const float* x, int half) {
        return _mm512_maskz_loadu_ps(half ? mk.hi : mk.lo, x + 16 * half);
    };
    auto store = [&](float* x, int half, __m512 v) { _mm512_mask_storeu_ps(x + 16 * half, half ? mk.hi : mk.lo, v); };

    __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
    for (int i = 0; i < p.k_dim; ++i) {
        const float* row = p.S + i * p.s_stride;
        const __m512 ki = _mm512_set1_ps(p.k[i]);
        m0 = _mm512_fmadd_ps(ki, load(row, 0), m0);
        m1 = _mm512_fmadd_ps(ki, load(row, 1), m1);
    }

    for (int64_t t = 0; t < p.n_tokens; ++t) {
        const float* q = p.q + t * p.qk_stride;
        const float* k = p.k + t * p.qk_stride;
        const float* k_next = t + 1 < p.n_tokens ? k + p.qk_stride : k;
        const float* v = p.v + t * p.v_stride;
        const __m512 d = _mm512_set1_ps(p.decay[t * p.gate_stride]);
        const __m512 beta = _mm512_set1_ps(p.beta[t * p.gate_stride]);
        const __m512 delta0 = _mm512_mul_ps(beta, _mm512_fnmadd_ps(d, m0, load(v, 0)));
        const __m512 delta1 = _mm512_mul_ps(beta, _mm512_fnmadd_ps(d, m1, load(v, 1)));

        // [a]/[b]: accumulators for even/odd rows.
        __m512 oa0 = _mm512_setzero_ps(), oa1 = oa0, ob0 = oa0, ob1 = oa0;
        __m512 na0 = oa0, na1 = oa0, nb0 = oa0, nb1 = oa0;
        auto update_row = [&](int i, __m512& o0, __m512& o1, __m512& n0, __m512& n1) {
            float* row = p.S + i * p.s_stride;
            const __m512 ki = _mm512_set1_ps(k[i]), qi = _mm512_set1_ps(q[i]), ni = _mm512_set1_ps(k_next[i]);
            const __m512 s0 = _mm512_fmadd_ps(ki, delta0, _mm512_mul_ps(d, load(row, 0)));
            const __m512 s1 = _mm512_fmadd_ps(ki, delta1, _mm512_mul_ps(d, load(row, 1)));
            store(row, 0, s0);
            store(row, 1, s1);
            o0 = _mm512_fmadd_ps(qi, s0, o0);
            o1 = _mm512_fmadd_ps(qi, s1, o1);
            n0 = _mm512_fmadd_ps(ni, s0, n0);
            n1 = _mm512_fmadd_ps(ni, s1, n1);
        };
        int i = 0;
        for (; i + 2 <= p.k_dim; i += 2) {
            update_row(i, oa0, oa1, na0, na1);
            update_row(i + 1, ob0, ob1, nb0, nb1);
        }
        if (i < p.k_dim) update_row(i, oa0, oa1, na0, na1);

        float* out = p.out + t * p.out_stride;
        store(out, 0, _mm512_add_ps(oa0, ob0));
        store(out, 1, _mm512_add_ps(oa1, ob1));
        m0 = _mm512_add_ps(na0, nb0);
        m1 = _mm512_add_ps(na1, nb1);
    }
}

}  // namespace sluice::deltanet_detail
