#include "kernels/deltanet.h"

#include <algorithm>
#include <cmath>

#include "kernels/deltanet_kernels.h"
#include "util/error.h"

namespace sluice {

using deltanet_detail::kScanWidth;
using deltanet_detail::ScanTile;

void DeltaNetDims::validate() const {
    if (n_k_heads <= 0 || n_v_heads <= 0 || k_dim <= 0 || v_dim <= 0 || conv_kernel <= 0)
        fail("deltanet: dims nk={} nv={} dk={} dv={} Kc={} must all be positive", n_k_heads, n_v_heads, k_dim, v_dim,
             conv_kernel);
    if (n_v_heads % n_k_heads != 0)
        fail("deltanet: value heads ({}) must be a multiple of key heads ({})", n_v_heads, n_k_heads);
}

DeltaNetState::DeltaNetState(const DeltaNetDims& d) : dims(d) {
    d.validate();
    conv.assign(size_t(d.conv_kernel - 1) * size_t(d.conv_dim()), 0.0f);
    recurrent.assign(size_t(d.n_v_heads) * size_t(d.k_dim) * size_t(d.v_dim), 0.0f);
}

void DeltaNetState::reset() {
    std::fill(conv.begin(), conv.end(), 0.0f);
    std::fill(recurrent.begin(), recurrent.end(), 0.0f);
}

namespace {

// Tokens prepared (conv, norms, gates) at a time: bounds the scratch at 64·conv_dim floats.
constexpr int64_t kBlockTokens = 64;

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
// PyTorch's softplus returns its input above 20.
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

// The inner loops for this CPU, or the plain-C++ ones when `portable`.
struct Kernels {
    decltype(&deltanet_detail::scan_tile_portable) scan;
    decltype(&deltanet_detail::conv_silu_portable) conv_silu;
    decltype(&deltanet_detail::silu_portable) silu;
};

Kernels kernels(bool portable) {
    using namespace deltanet_detail;
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    if (avx512 && !portable) return {scan_tile_avx512, conv_silu_avx512, silu_avx512};
    return {scan_tile_portable, conv_silu_portable, silu_portable};
}

// One call's inputs and per-block scratch, so the steps below take few arguments.
struct Call {
    const DeltaNetDims& dims;
    const DeltaNetWeights& weights;
    DeltaNetState& state;
    int64_t T;
    const float* mixed;
    const float* a;
    const float* b;
    float* out;
    ThreadPool& pool;
    Kernels kern;

    std::vector<float> conv_taps;  // [Kc, conv_dim]: the conv weights transposed, so the conv vectorises over channels
    std::vector<float> u;          // [kBlockTokens, conv_dim]: post-conv q|k|v of the block
    std::vector<float> decay;      // [kBlockTokens, nv]: exp(g)
    std::vector<float> beta;       // [kBlockTokens, nv]

    // Pre-conv input at token τ of this call; τ < 0 reaches back into the conv state.
    const float* input_row(int64_t tau) const {
        const int64_t cd = dims.conv_dim();
        return tau >= 0 ? mixed + tau * cd : state.conv.data() + (dims.conv_kernel - 1 + tau) * cd;
    }
};

// u[t] = silu(Σ_j w[:, j] ⊙ x[t − (Kc−1) + j]) for tokens t0 .. t0+n−1.
void conv_silu(Call& c, int64_t t0, int64_t n) {
    const int64_t cd = c.dims.conv_dim();
    const int kc = c.dims.conv_kernel;
    c.pool.parallel_for(
        cd,
        [&](int, int64_t c0, int64_t c1) {
            std::vector<const float*> inputs(static_cast<size_t>(kc));
            for (int64_t t = 0; t < n; ++t) {
                for (int j = 0; j < kc; ++j) inputs[size_t(j)] = c.input_row(t0 + t - (kc - 1) + j) + c0;
                c.kern.conv_silu(inputs.data(), c.conv_taps.data() + c0, cd, kc, c.u.data() + t * cd + c0, c1 - c0);
            }
        },
        512);
}

void scale_to_unit(float* x, int n, float extra_scale) {
    float ss = 0;
    for (int i = 0; i < n; ++i) ss += x[i] * x[i];
    const float s = extra_scale / std::sqrt(ss + 1e-6f);
    for (int i = 0; i < n; ++i) x[i] *= s;
}

// L2-normalises every q and k head of the block in place; q also gets 1/√dk.
void normalize_qk(Call& c, int64_t n) {
    const int nk = c.dims.n_k_heads, dk = c.dims.k_dim;
    const int64_t cd = c.dims.conv_dim();
    const float q_scale = 1.0f / std::sqrt(float(dk));
    c.pool.parallel_for(
        n * nk,
        [&](int, int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) {
                float* q = c.u.data() + (i / nk) * cd + (i % nk) * dk;
                scale_to_unit(q, dk, q_scale);
                scale_to_unit(q + c.dims.key_dim(), dk, 1.0f);
            }
        },
        16);
}

void compute_gates(Call& c, int64_t t0, int64_t n) {
    const int nv = c.dims.n_v_heads;
    for (int64_t t = 0; t < n; ++t) {
        for (int h = 0; h < nv; ++h) {
            const float A = c.weights.A_form == DecayForm::ALog ? -std::exp(c.weights.A[h]) : c.weights.A[h];
            const int64_t at = (t0 + t) * nv + h;
            c.decay[t * nv + h] = std::exp(A * softplus(c.a[at] + c.weights.dt_bias[h]));
            c.beta[t * nv + h] = sigmoid(c.b[at]);
        }
    }
}

// §B.4 step 7, one token at a time, one task per head.
void recurrent_rule(Call& c, int64_t t0, int64_t n) {
    const DeltaNetDims& d = c.dims;
    const int dk = d.k_dim, dv = d.v_dim, nv = d.n_v_heads;
    const int64_t cd = d.conv_dim();
    c.pool.parallel_for(nv, [&](int, int64_t h0, int64_t h1) {
        std::vector<float> m(size_t(dv), 0.0f);
        for (int64_t h = h0; h < h1; ++h) {
            const int kh = d.k_head_of(int(h));
            float* S = c.state.recurrent.data() + h * dk * dv;
            for (int64_t t = 0; t < n; ++t) {
                const float* q = c.u.data() + t * cd + kh * dk;
                const float* k = q + d.key_dim();
                const float* v = c.u.data() + t * cd + 2 * d.key_dim() + h * dv;
                const float decay = c.decay[t * nv + h], beta = c.beta[t * nv + h];
                float* __restrict o = c.out + (t0 + t) * d.value_dim() + h * dv;

                // m = (decay·S)ᵀk, with the decay applied to m rather than S, so that S is
                // written once per token (decode is bound by the state's memory traffic).
                std::fill(m.begin(), m.end(), 0.0f);
                for (int i = 0; i < dk; ++i) {
                    const float* __restrict row = S + i * dv;
                    for (int j = 0; j < dv; ++j) m[size_t(j)] += row[j] * k[i];
                }
                for (int j = 0; j < dv; ++j) m[size_t(j)] = beta * (v[j] - decay * m[size_t(j)]);  // δ
                std::fill(o, o + dv, 0.0f);
                for (int i = 0; i < dk; ++i) {
                    float* __restrict row = S + i * dv;
                    for (int j = 0; j < dv; ++j) {
                        row[j] = decay * row[j] + k[i] * m[size_t(j)];
                        o[j] += row[j] * q[i];
                    }
                }
            }
        }
    });
}

// One task per (head, slice of kScanWidth value columns). The slice is copied to a dense buffer
// for the block: in place its rows are dv floats apart, so they would crowd a quarter of the L1
// sets (at dv = 128) and evict each other.
void scan_rule(Call& c, int64_t t0, int64_t n) {
    const DeltaNetDims& d = c.dims;
    const int dk = d.k_dim, dv = d.v_dim, nv = d.n_v_heads;
    const int64_t cd = d.conv_dim();
    const int tiles = (dv + kScanWidth - 1) / kScanWidth;
    c.pool.parallel_for(int64_t(nv) * tiles, [&](int, int64_t i0, int64_t i1) {
        std::vector<float> slice(size_t(dk) * kScanWidth);
        for (int64_t item = i0; item < i1; ++item) {
            const int h = int(item / tiles), col = int(item % tiles) * kScanWidth;
            const int width = std::min(kScanWidth, dv - col);
            float* S = c.state.recurrent.data() + int64_t(h) * dk * dv + col;
            for (int i = 0; i < dk; ++i) std::copy(S + i * dv, S + i * dv + width, slice.begin() + i * kScanWidth);
            ScanTile p;
            p.n_tokens = n;
            p.k_dim = dk;
            p.width = width;
            p.q = c.u.data() + d.k_head_of(h) * d.k_dim;
            p.k = p.q + d.key_dim();
            p.qk_stride = cd;
            p.v = c.u.data() + 2 * d.key_dim() + h * dv + col;
            p.v_stride = cd;
            p.decay = c.decay.data() + h;
            p.beta = c.beta.data() + h;
            p.gate_stride = nv;
            p.S = slice.data();
            p.s_stride = kScanWidth;
            p.out = c.out + t0 * d.value_dim() + h * dv + col;
            p.out_stride = d.value_dim();
            c.kern.scan(p);
            for (int i = 0; i < dk; ++i)
                std::copy(slice.begin() + i * kScanWidth, slice.begin() + i * kScanWidth + width, S + i * dv);
        }
    });
}

// The conv state becomes the last Kc−1 inputs of (old state, this call's tokens).
void advance_conv_state(Call& c) {
    const int64_t cd = c.dims.conv_dim(), keep = c.dims.conv_kernel - 1;
    std::vector<float> next(c.state.conv.size());
    for (int64_t r = 0; r < keep; ++r) {
        const float* src = c.input_row(c.T - keep + r);
        std::copy(src, src + cd, next.begin() + r * cd);
    }
    c.state.conv.swap(next);
}

}  // namespace

void deltanet_forward(const DeltaNetDims& dims, const DeltaNetWeights& weights, DeltaNetState& state, int64_t T,
                      const float* mixed_qkv, const float* a, const float* b, float* out, ThreadPool& pool,
                      DeltaNetPath path) {
    dims.validate();
    if (!(state.dims == dims)) fail("deltanet_forward: state was made for other dims");
    if (T < 0) fail("deltanet_forward: token count {} is negative", T);
    if (T == 0) return;
    if (!mixed_qkv || !a || !b || !out || !weights.conv || !weights.A || !weights.dt_bias)
        fail("deltanet_forward: null input, output or weight pointer");

    if (path == DeltaNetPath::Auto) path = T == 1 ? DeltaNetPath::Recurrent : DeltaNetPath::Scan;

    const int64_t cd = dims.conv_dim(), nv = dims.n_v_heads, block = std::min(T, kBlockTokens);
    const int kc = dims.conv_kernel;
    Call c{dims, weights, state, T, mixed_qkv, a, b, out, pool, kernels(path == DeltaNetPath::ScanPortable),
           {}, {}, {}, {}};
    c.conv_taps.resize(size_t(kc * cd));
    for (int64_t ch = 0; ch < cd; ++ch)
        for (int j = 0; j < kc; ++j) c.conv_taps[size_t(j * cd + ch)] = weights.conv[ch * kc + j];
    c.u.resize(size_t(block * cd));
    c.decay.resize(size_t(block * nv));
    c.beta.resize(size_t(block * nv));

    for (int64_t t0 = 0; t0 < T; t0 += kBlockTokens) {
        const int64_t n = std::min(kBlockTokens, T - t0);
        conv_silu(c, t0, n);
        normalize_qk(c, n);
        compute_gates(c, t0, n);
        if (path == DeltaNetPath::Recurrent)
            recurrent_rule(c, t0, n);
        else
            scan_rule(c, t0, n);
    }
    advance_conv_state(c);
}

void gated_rms_norm(const float* x, const float* z, const float* w, int64_t rows, int dim, float eps, float* out,
                    ThreadPool& pool) {
    if (rows < 0 || dim <= 0) fail("gated_rms_norm: {} rows of {} values", rows, dim);
    const Kernels kern = kernels(false);
    pool.parallel_for(
        rows,
        [&](int, int64_t r0, int64_t r1) {
            std::vector<float> gate(static_cast<size_t>(dim));
            for (int64_t r = r0; r < r1; ++r) {
                const float* xr = x + r * dim;
                const float* zr = z + r * dim;
                float* yr = out + r * dim;
                float ss = 0;
                for (int j = 0; j < dim; ++j) ss += xr[j] * xr[j];
                const float inv = 1.0f / std::sqrt(ss / float(dim) + eps);
                kern.silu(zr, gate.data(), dim);
                for (int j = 0; j < dim; ++j) yr[j] = xr[j] * inv * w[j] * gate[size_t(j)];
            }
        },
        std::max<int64_t>(1, 4096 / dim));
}

}  // namespace sluice
