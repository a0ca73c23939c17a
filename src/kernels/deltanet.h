// Gated DeltaNet, the linear attention of Qwen3-Next and Qwen3.5-MoE, on already projected
// activations in float32 (../shared/docs/model-spec.md §B.4): causal depthwise conv1d + SiLU
// with a rolling state, q/k L2 norm, decay and beta gates, and the gated delta rule with a
// per-sequence recurrent state; plus the gated RMSNorm that follows it. The model does the
// input projections (qkv, z, a, b) and out_proj with matmul and calls these in between.
#pragma once
#include <cstdint>
#include <vector>

#include "util/thread_pool.h"

namespace sluice {

struct DeltaNetDims {
    int n_k_heads = 0;    // nk: q/k heads
    int n_v_heads = 0;    // nv: value heads, a multiple of nk
    int k_dim = 0;        // dk
    int v_dim = 0;        // dv
    int conv_kernel = 0;  // Kc
    // Which q/k head v-head h reads: true = qwen35/qwen35moe GGUF "tiled" order (h % nk),
    // false = HF and qwen3next GGUF order (h / (nv/nk)).
    bool tiled_v_heads = false;

    int key_dim() const { return n_k_heads * k_dim; }
    int value_dim() const { return n_v_heads * v_dim; }
    // Channels of mixed_qkv: [q (nk·dk) | k (nk·dk) | v (nv·dv)].
    int conv_dim() const { return 2 * key_dim() + value_dim(); }
    int k_head_of(int v_head) const {
        return tiled_v_heads ? v_head % n_k_heads : v_head / (n_v_heads / n_k_heads);
    }
    // Throws sluice::Error unless every size is positive and nv is a multiple of nk.
    void validate() const;
    bool operator==(const DeltaNetDims&) const = default;
};

// What one sequence carries from call to call in one linear-attention layer (zeros at start).
struct DeltaNetState {
    explicit DeltaNetState(const DeltaNetDims& dims);
    void reset();

    DeltaNetDims dims;
    std::vector<float> conv;       // [Kc−1, conv_dim], oldest first: the last pre-conv inputs
    std::vector<float> recurrent;  // S [nv, dk, dv]
};

// How the per-head decay rate is stored: HF's A_log (the kernel uses −exp(A_log)), or
// llama.cpp's GGUF ssm_a, which already is −exp(A_log) and is used as is.
enum class DecayForm { ALog, NegExp };

struct DeltaNetWeights {
    const float* conv = nullptr;  // [conv_dim, Kc], Kc innermost; tap Kc−1 multiplies the current token
    const float* A = nullptr;     // [nv], in the form `A_form` says
    DecayForm A_form = DecayForm::ALog;
    const float* dt_bias = nullptr;  // [nv]
};

// Auto: Recurrent for one token, else Scan. Recurrent follows §B.4 step 7 token by token over
// all heads (the decode path). Scan is the same recurrence reorganised for prefill: each task
// runs all tokens of a block over a slice of one head's state that stays in L1, with one fused
// pass per token. Inner loops use AVX-512 when the CPU has it; ScanPortable is Scan with the
// plain-C++ inner loops (for tests and comparison).
enum class DeltaNetPath { Auto, Recurrent, Scan, ScanPortable };

// out[T, nv·dv] = the delta rule's output o (before the gated norm) for T tokens of one
// sequence, continuing from `state` and advancing it. mixed_qkv [T, conv_dim] is the pre-conv
// qkv projection, a and b [T, nv] the alpha/beta projections. g = A·softplus(a + dt_bias)
// with A = −exp(A_log), beta = sigmoid(b); q and k are L2-normalised (x·rsqrt(Σx² + 1e-6))
// and q is scaled by 1/√dk. All v-head-indexed data (v, a, b, A, dt_bias, out) is in one
// order, and dims.tiled_v_heads says which q/k head each v-head reads.
void deltanet_forward(const DeltaNetDims& dims, const DeltaNetWeights& weights, DeltaNetState& state, int64_t T,
                      const float* mixed_qkv, const float* a, const float* b, float* out,
                      ThreadPool& pool = ThreadPool::global(), DeltaNetPath path = DeltaNetPath::Auto);

// Per row of `dim` values (rows = T·nv heads, dim = dv):
// out = x·rsqrt(mean(x²) + eps)·w · silu(z). `out` may be `x`.
void gated_rms_norm(const float* x, const float* z, const float* w, int64_t rows, int dim, float eps, float* out,
                    ThreadPool& pool = ThreadPool::global());

}  // namespace sluice
