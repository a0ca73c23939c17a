// Building blocks shared by the architectures: norms, RoPE, attention (model/attention.h), SwiGLU
// and the routed MoE layer. Activations are float32, row-major [tokens, width].
#pragma once
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "format/model_desc.h"
#include "kernels/matmul.h"
#include "model/attention.h"
#include "model/backend.h"
#include "model/expert_source.h"
#include "model/model.h"

namespace sluice {

// y = x / rms(x) · w over rows of `width` (w may be null: no scale). In-place allowed.
void rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t width, float eps);

// NeoX-style rotary embedding of the first `rot_dim` dims of each head (pairs j, j + rot_dim/2).
// x is [n, heads, head_dim]; token t has position pos0 + t.
void rope_neox(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim, int64_t pos0, float theta);

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// q, k, v [n, rows of each] = x [n, cols] times wq, wk, wv in one pass (matmul_shared_input).
void attention_inputs(const Weight& wq, const Weight& wk, const Weight& wv, const float* x, int64_t n, float* q, float* k,
                      float* v);

// SwiGLU FFN on m rows: out = W_down · (silu(W_gate x) ⊙ W_up x).
void swiglu_ffn(const Weight& gate, const Weight& up, const Weight& down, const float* x, int64_t m, float* out,
                ThreadPool& pool = ThreadPool::global());

// gpt-oss's expert FFN: biases after each projection (host memory, expert-major: [E, I], [E, I],
// [E, H]) and SwiGLU clamped at `limit`:
//   out = W_down·((clamp(u, −limit, limit) + 1) ⊙ g·σ(1.702·g)) + b_down, g = min(gate, limit),
// with gate = W_gate·x + b_gate and u = W_up·x + b_up. Empty biases: the plain SwiGLU.
struct BiasedExperts {
    std::span<const float> gate_bias{}, up_bias{}, down_bias{};
    float limit = 0;
    bool active() const { return !gate_bias.empty(); }
};

struct MoeRouting {
    int64_t n_used = 0;        // K
    bool normalize = true;     // renormalise the kept weights to sum to 1
    // Gating::SoftmaxOfChosen (gpt-oss): the K largest logits, then a softmax over those K.
    // Gating::Sigmoid (DeepSeek-V3, GLM-4.5): experts are chosen by sigmoid(logit) + score_bias[e]
    // within the best `groups_used` of `groups` equal groups (a group scores its best two), and
    // weighted by their sigmoids (renormalised when `normalize`) times `scale`.
    Gating gating = Gating::Softmax;
    std::span<const float> logit_bias{};   // added to the router logits (host memory, one per expert)
    BiasedExperts experts{};             // gpt-oss's expert FFN (a layer sets its copy's biases)
    std::span<const float> score_bias{};   // host memory, one per expert; empty: none
    int64_t groups = 1, groups_used = 1;
    float scale = 1;
    // Benchmarks only: each token takes K distinct experts drawn uniformly (seeded by its router
    // logits, so runs repeat) with equal weights. A random-weight model's router sends nearly
    // every token to the same few experts, which hides the disk; a trained model's spreads them.
    bool uniform = false;
};

// The routing a model runs with: its own K, gating and normalisation, or an overriding K (the
// flash-moe trade), which always renormalises the kept weights. Throws if K exceeds the experts.
// A layer with a correction bias sets score_bias on its copy.
MoeRouting moe_routing(const ModelConfig& c, int64_t experts_per_token, bool uniform = false);

// Routed experts for n tokens: softmax over router logits, top-K, optional renormalisation; each
// expert's tokens run through it as one matrix product; contributions are added into out [n, H].
void moe_routed(const Weight& router, const MoeRouting& routing, ExpertSource& experts, int64_t layer, const float* x,
                int64_t n, float* out);

// Prefetch: applies a later layer's norm and router to the current hidden states h [n, H] to
// predict its experts (the union of each token's top K), and asks the source to read them.
void prefetch_predicted(const Weight& router, const float* norm, float eps, const MoeRouting& routing,
                        ExpertSource& experts, int64_t layer, const float* h, int64_t n);

// The top-k experts of each token for these router logits [n, E] (used by prefetch prediction
// too): ids [n, k] and weights [n, k].
void route_top_k(const float* logits, int64_t n, int64_t n_experts, const MoeRouting& routing, int32_t* ids,
                 float* weights);

// Where each sequence of a batched forward lies in the activations: rows row0..row0+n, positions
// pos0.. of its state. Built once per forward; layer_state(l) is that sequence's state in layer l.
struct SequenceRows {
    ModelState* state;
    int64_t row0, n, pos0;
    LayerState& layer_state(int64_t l) const { return *state->layers[size_t(l)]; }
};

// Checks each step's context and the states' distinctness, and lays the steps out one after
// another: returns their rows and fills tokens with every step's tokens in order.
std::vector<SequenceRows> sequence_rows(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens);

// A state of one KV cache per layer (the attention-only architectures: Qwen3-MoE, GLM-4.5, gpt-oss).
std::unique_ptr<ModelState> kv_cache_state(Backend& be, const ModelConfig& c, int64_t capacity, KvCacheType type);

// Each sequence's rows of q [n, heads · D] and k [n, kv_heads · D] normed per head by `norm` (where
// it has weights) and rotated (NeoX RoPE of the first rot_dim dims) at its positions, then its
// causal attention over its own KV cache in `layer`.
void rope_attention(Backend& be, std::span<const SequenceRows> seqs, int64_t layer, Act q, Act k, Act v, Act out,
                    int64_t kv_heads, const QkNorm& norm, int64_t rot_dim, float theta);

class DenseWeights;

// Both ends of a decoder, in the model's backend: the token embedding, and the output head
// (final norm, then the vocabulary projection, which is the embedding itself when tied).
struct TokenIo {
    Weight embed, output;
    Vec output_norm;   // the plain multiplier

    // token_embd, output_norm and output (absent: tied to the embedding) of a GGUF-named model.
    static TokenIo load(DenseWeights& weights, const ModelConfig& c);

    // Each step's logits (its last row, or all its rows) from h, to the step's host buffer;
    // one product of the output head for all of them.
    void logits(Backend& be, Act h, std::span<const SequenceStep> steps, std::span<const SequenceRows> rows,
                float eps) const;
};

// q, k, v = x times wq, wk, wv, in one pass over x (Backend::matmul_shared).
void project_qkv(Backend& be, const Weight& wq, const Weight& wk, const Weight& wv, Act x, Act q, Act k, Act v);

// What every decoder's forward over a batch of steps starts and ends with. Making one lays the
// steps out as rows (sequence_rows), opens a scratch frame for the forward's activations and
// embeds the tokens into the residual stream h; finish() advances each state past its tokens
// and writes each step's logits from h.
class DecoderPass {
public:
    DecoderPass(Backend& be, std::span<const SequenceStep> steps, const TokenIo& io, int64_t hidden);
    DecoderPass(const DecoderPass&) = delete;
    DecoderPass& operator=(const DecoderPass&) = delete;
    void finish(float eps);

private:
    // Declared first: made first (the activations below come out of the frame).
    Backend& be_;
    Backend::Frame frame_;
    std::span<const SequenceStep> steps_;
    const TokenIo& io_;
    std::vector<int32_t> tokens_;

public:
    const std::vector<SequenceRows> seqs;   // where each step's rows lie
    const int64_t n;                        // rows of all steps together
    const Act h;                            // [n, hidden] the residual stream
    const Act x, a;                         // [n, hidden] a block's (normed) input and its output
};

}  // namespace sluice
