// The DeltaNet inner loops with AVX-512.
#include <immintrin.h>

#include "kernels/deltanet_kernels.h"

namespace sluice::deltanet_detail {

namespace {

struct Masks {
    __mmask16 lo, hi;
};

Masks masks_for(int width) {
    auto bits = [](int n) { return n <= 0 ? __mmask16(0) : n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); };
    return {bits(width), bits(width - 16)};
}

// e^x as 2^n · e^r with n = round(x·log2 e) and |r| ≤ ln2/2: Cephes' degree-6 polynomial for
// e^r (about 1 ulp), and scalef to apply 2^n, which saturates to 0 / inf instead of wrapping.
__m512 exp_ps(__m512 x) {
    // (The maskz forms only because GCC warns about the undefined source of the plain ones.)
    const __m512 n = _mm512_maskz_roundscale_ps(0xFFFF, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln 2 in two parts, exact first
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_scalef_ps(0xFFFF, p, n);
}

__m512 silu_ps(__m512 v) {
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), v));
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

__mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

}  // namespace

void silu_avx512(const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, silu_ps(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void conv_silu_avx512(const float* const* inputs, const float* taps, int64_t tap_stride, int kc, float* dst,
                      int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        __m512 acc = _mm512_setzero_ps();
        for (int j = 0; j < kc; ++j)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, taps + j * tap_stride + i),
                                  _mm512_maskz_loadu_ps(m, inputs[j] + i), acc);
        _mm512_mask_storeu_ps(dst + i, m, silu_ps(acc));
    }
}

// A slice row of up to 32 columns is two zmm registers (masked when narrower); rows go two at a
// time with separate accumulators so the o and prediction sums are not one long FMA chain.
void scan_tile_avx512(const ScanTile& p) {
    const Masks mk = masks_for(p.width);
    auto load = [&](const float* x, int half) {
        return _mm512_maskz_loadu_ps(half ? mk.hi : mk.lo, x + 16 * half);
    };
    auto store = [&](float* x, int half, __m512 v) { _mm512_mask_storeu_ps(x + 16 * half, half ? mk.hi : mk.lo, v); };
    // Locals, so the compiler need not reload them after every store into S.
    float* const S = p.S;
    const int64_t s_stride = p.s_stride;
    const int dk = p.k_dim;

    __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
    for (int i = 0; i < dk; ++i) {
        const float* row = S + i * s_stride;
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
            float* row = S + i * s_stride;
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
        for (; i + 2 <= dk; i += 2) {
            update_row(i, oa0, oa1, na0, na1);
            update_row(i + 1, ob0, ob1, nb0, nb1);
        }
        if (i < dk) update_row(i, oa0, oa1, na0, na1);

        float* out = p.out + t * p.out_stride;
        store(out, 0, _mm512_add_ps(oa0, ob0));
        store(out, 1, _mm512_add_ps(oa1, ob1));
        m0 = _mm512_add_ps(na0, nb0);
        m1 = _mm512_add_ps(na1, nb1);
    }
}

}  // namespace sluice::deltanet_detail
