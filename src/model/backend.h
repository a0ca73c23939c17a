// The operations every architecture's forward is written in (DESIGN.md §9). A backend owns the
// memory it computes in: the CPU backend (model/cpu_backend.cpp) runs them on the host with the
// kernels of src/kernels; a GPU backend keeps weights, activations and state in device memory.
// An architecture file loads its weights through weight()/vec()/index(), asks for per-layer
// state with kv_cache()/deltanet_state(), and writes its forward as a sequence of these calls,
// so it is written once for every device.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/deltanet.h"
#include "kernels/matmul.h"
#include "model/expert_source.h"
#include "model/kv_cache_type.h"
#include "model/rotary_table.h"

namespace sluice {

struct MoeRouting;

// float32 activations [rows, cols], row-major, in the backend's memory.
struct Act {
    float* data = nullptr;
    int64_t rows = 0, cols = 0;
    int64_t size() const { return rows * cols; }
    // Rows first..first+count, a view of the same memory.
    Act rows_from(int64_t first, int64_t count) const { return {data + first * cols, count, cols}; }
};

// Small constant tensors in the backend's memory: norm weights, biases, per-head parameters,
// and index maps (gather_cols).
struct Vec {
    const float* data = nullptr;
    int64_t n = 0;
};
struct Index {
    const int32_t* data = nullptr;
    int64_t n = 0;
};

// Per-head RMSNorm weights of q and k [head_dim] applied before their rotation (Qwen3's q_norm
// and k_norm); both empty where a model has none.
struct QkNorm {
    Vec q, k;
    float eps = 0.0f;
    bool active() const { return q.n > 0; }
};

// What one sequence keeps between calls in one layer (a KV cache, a recurrent state), in the
// backend's memory; only the backend that made it can use it.
class LayerState {
public:
    virtual ~LayerState() = default;
    virtual uint64_t bytes() const = 0;
    virtual void reset() = 0;   // back to the state before any token
    // What must be kept, beside the position, to come back later to the state as it is now (the
    // server's prompt cache): nothing for a KV cache, whose positions past n_past are
    // overwritten before they are read; the whole of a recurrent state. restore() takes it back.
    virtual std::vector<float> checkpoint() const = 0;
    virtual void restore(std::span<const float> saved) = 0;
};

// The parameters of one Gated DeltaNet layer besides its projections.
struct DeltaNetParams {
    DeltaNetDims dims;
    Vec conv;      // [conv_dim, Kc]
    Vec a;         // [nv], in the form `a_form` says
    DecayForm a_form = DecayForm::ALog;
    Vec dt_bias;   // [nv]
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const = 0;

    // --- Loading: copies of host data that this backend computes with (the CPU backend uses
    // weights in place and keeps copies of vectors). `name` is the tensor's, for errors.
    virtual Weight weight(const Weight& host, const std::string& name) = 0;
    virtual Vec vec(std::span<const float> host) = 0;
    virtual Index index(std::span<const int32_t> host) = 0;

    // --- Per-sequence state. A backend that cannot store a cache type refuses it, naming the
    // option. Recurrent (Gated DeltaNet) states stay float32: they are small (a fixed size per
    // layer, not per token) and rewritten every token, so rounding would accumulate.
    virtual std::unique_ptr<LayerState> kv_cache(int64_t capacity, int64_t kv_heads, int64_t head_dim,
                                                 KvCacheType type) = 0;
    virtual std::unique_ptr<LayerState> deltanet_state(const DeltaNetDims& dims) = 0;
    // Multi-head latent attention's cache: latent + rope values per position (latent_attention).
    virtual std::unique_ptr<LayerState> latent_cache(int64_t capacity, int64_t latent, int64_t rope,
                                                     KvCacheType type) = 0;

    // --- Scratch activations, valid until the Frame that was innermost at their making ends.
    class Frame {
    public:
        explicit Frame(Backend& be) : be_(be), mark_(be.scratch_mark()) {}
        ~Frame() { be_.scratch_release(mark_); }
        Frame(const Frame&) = delete;
        Frame& operator=(const Frame&) = delete;

    private:
        Backend& be_;
        size_t mark_;
    };
    virtual Act act(int64_t rows, int64_t cols) = 0;

    // --- Operations. Shapes are checked by the callers' construction; each says what it needs.
    // out [n, H] = rows of the embedding table for tokens (host ids; fails on an id outside it).
    virtual void embed(const Weight& table, std::span<const int32_t> tokens, Act out) = 0;
    // y = x / rms(x) · w over groups of w.n values (rows, or heads within rows). y may be x.
    virtual void rms_norm(Act x, Vec w, Act y, float eps) = 0;
    // y [n, w.rows] = x [n, w.cols] · wᵀ
    virtual void matmul(const Weight& w, Act x, Act y) = 0;
    // y_i = x · w_iᵀ for weights that take the same input (quantised once, one dispatch).
    virtual void matmul_shared(std::span<const Weight* const> ws, Act x, std::span<const Act> ys) = 0;
    // dst rows dst_row.. = src rows src_row.. (count rows of the same width).
    virtual void copy_rows(Act src, int64_t src_row, Act dst, int64_t dst_row, int64_t count) = 0;
    virtual void add(Act y, Act x) = 0;                // y += x
    // h += a, then y = rms_norm(h)·w (the residual add and the norm after it): one call so that a
    // backend can do both in one pass (the CUDA backend's decode). By default the two operations.
    virtual void add_rms_norm(Act h, Act a, Vec w, Act y, float eps) {
        add(h, a);
        rms_norm(h, w, y, eps);
    }
    virtual void add_bias(Act y, Vec b) = 0;           // y[t, :] += b, b.n == y.cols
    virtual void mul_sigmoid(Act y, Act gate) = 0;     // y *= sigmoid(gate), elementwise
    // y[t, :] += sigmoid(gate[t]) · x[t, :], gate [n, 1] (the shared expert's gate).
    virtual void add_gated(Act y, Act x, Act gate) = 0;
    // dst[r, j] = src[r, map[j]]: regrouping a product's columns (fused projections).
    virtual void gather_cols(Act src, Index map, Act dst) = 0;
    // NeoX rotary embedding of the first rot_dim dims of each head; x [n, heads · head_dim].
    virtual void rope_neox(Act x, int64_t heads, int64_t rot_dim, int64_t pos0, float theta) = 0;
    // Rotation of whole heads by a frequency table (model/rotary_table.h: YaRN), of NeoX halves
    // (gpt-oss) or of adjacent pairs (DeepSeek-V3); x [n, heads · 2·table.inv_freq.size()].
    virtual void rope_halves(Act x, int64_t heads, const RotaryTable& table, int64_t pos0) = 0;
    virtual void rope_pairs(Act x, int64_t heads, const RotaryTable& table, int64_t pos0) = 0;
    // y[:, h-th block of ws[h].rows] = x[:, h-th block of ws[h].cols] · ws[h]ᵀ: one matrix per head
    // (MLA's absorbed key and value projections).
    virtual void matmul_per_head(std::span<const Weight> ws, Act x, Act y) = 0;
    // Stores latent [n, L] and k_rope [n, R] at positions pos0.. of `cache` and writes each
    // head's attention over the cached latents (model/latent_attention.h) to out [n, heads · L].
    virtual void latent_attention(Act q_latent, Act q_rope, Act latent, Act k_rope, LayerState& cache, int64_t pos0,
                                  float scale, Act out) = 0;
    // Stores k, v [n, kv_heads · D] at positions pos0.. of `cache` and writes causal GQA
    // attention of q [n, heads · D] over positions 0..pos0+t to out [n, heads · D].
    virtual void attention(Act q, Act k, Act v, LayerState& cache, int64_t pos0, Act out) = 0;
    // rms_norm of each head of q and k by `norm` where it has weights (Qwen3), rope_neox of q
    // (heads) and k (kv_heads), then attention: one call so that a backend can norm and rotate
    // both and store k and v in the cache in one pass (the CUDA backend's decode). By default the
    // operations in turn.
    virtual void rope_neox_attention(Act q, Act k, Act v, int64_t heads, int64_t kv_heads, const QkNorm& norm,
                                     int64_t rot_dim, int64_t pos0, float theta, LayerState& cache, Act out) {
        if (norm.active()) {
            rms_norm(q, norm.q, q, norm.eps);
            rms_norm(k, norm.k, k, norm.eps);
        }
        rope_neox(q, heads, rot_dim, pos0, theta);
        rope_neox(k, kv_heads, rot_dim, pos0, theta);
        attention(q, k, v, cache, pos0, out);
    }
    // attention with gpt-oss's sinks (one logit per head joining its softmax) and, when window
    // > 0, each query seeing only the last `window` positions (model/attention.h).
    virtual void attention_sinks(Act q, Act k, Act v, LayerState& cache, int64_t pos0, Vec sinks, int64_t window,
                                 Act out) = 0;
    // Gated DeltaNet's convolution and delta rule (kernels/deltanet.h) over n tokens, advancing
    // `state`: mixed [n, conv_dim], a and b [n, nv] → out [n, nv · dv].
    virtual void deltanet(const DeltaNetParams& p, LayerState& state, Act mixed, Act a, Act b, Act out) = 0;
    // out = x · rsqrt(mean(x²) + eps) · w · silu(z) over groups of w.n values. out may be x.
    virtual void gated_rms_norm(Act x, Act z, Vec w, float eps, Act out) = 0;
    // out = down · (silu(gate · x) ⊙ up · x)
    virtual void swiglu(const Weight& gate, const Weight& up, const Weight& down, Act x, Act out) = 0;
    // out += the routed experts' outputs for x [n, H] (router softmax, top-K, experts from
    // `experts`, weighted sum; or as `routing` says: gpt-oss's gating, biases and clamp).
    virtual void moe(const Weight& router, const MoeRouting& routing, ExpertSource& experts, int64_t layer, Act x,
                     Act out) = 0;
    // Prefetch (sources that read from disk): a later layer's norm and router on the current
    // hidden states h [n, H] predict its experts (the union of the rows'), whose reads start now.
    virtual void prefetch_predicted(const Weight& router, Vec norm, float eps, const MoeRouting& routing,
                                    ExpertSource& experts, int64_t layer, Act h) = 0;
    // Copies src to host memory dst [rows · cols] (the logits), waiting for the work before it.
    virtual void read(Act src, float* dst) = 0;

protected:
    virtual size_t scratch_mark() = 0;
    virtual void scratch_release(size_t mark) = 0;
};

// The host backend (model/cpu_backend.cpp), which a model given no backend makes for itself.
std::shared_ptr<Backend> make_cpu_backend();

}  // namespace sluice
