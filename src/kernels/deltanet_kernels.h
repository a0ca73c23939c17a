// Internal to the DeltaNet kernels: the inner loops that exist once in plain C++ (any x86-64)
// and once with AVX-512, picked at run time by deltanet.cpp.
//
// Scan: the prefill delta rule over one slice of one head's state. The value columns are
// independent (δ, the state update and o are per column j), so a task takes `width` ≤ kScanWidth
// columns of S [dk, dv] — small enough to stay in L1 — and runs every token of a block over them. Each token costs one pass over the slice: while the
// slice is updated, S'ᵀq_t (the output) and S'ᵀk_{t+1} (next token's prediction before its
// decay) are accumulated from the fresh rows.
#pragma once
#include <cstdint>

namespace sluice::deltanet_detail {

inline constexpr int kScanWidth = 32;

struct ScanTile {
    int64_t n_tokens = 0;
    int k_dim = 0;
    int width = 0;  // 1..kScanWidth columns
    // Token t reads q + t·qk_stride, k + t·qk_stride (dk each; q already normalised and scaled).
    const float* q = nullptr;
    const float* k = nullptr;
    int64_t qk_stride = 0;
    const float* v = nullptr;  // token t: v + t·v_stride, `width` values
    int64_t v_stride = 0;
    const float* decay = nullptr;  // exp(g) of token t at t·gate_stride
    const float* beta = nullptr;
    int64_t gate_stride = 0;
    float* S = nullptr;  // row i of the slice at S + i·s_stride
    int64_t s_stride = 0;
    float* out = nullptr;  // token t: out + t·out_stride, `width` values
    int64_t out_stride = 0;
};

void scan_tile_portable(const ScanTile& p);
void scan_tile_avx512(const ScanTile& p);

// y[i] = x[i]·sigmoid(x[i]); y may be x.
void silu_portable(const float* x, float* y, int64_t n);
void silu_avx512(const float* x, float* y, int64_t n);

// dst[i] = silu(Σ_j taps[j·tap_stride + i] · inputs[j][i]) for i < n, j < kc: the depthwise
// conv of one token over n channels, inputs[j] being the input kc−1−j tokens back.
void conv_silu_portable(const float* const* inputs, const float* taps, int64_t tap_stride, int kc, float* dst,
                        int64_t n);
void conv_silu_avx512(const float* const* inputs, const float* taps, int64_t tap_stride, int kc, float* dst,
                      int64_t n);

}  // namespace sluice::deltanet_detail
