// Qwen3-MoE (model-spec §A): pre-norm decoder layers of GQA attention with per-head q/k RMSNorm
// and NeoX RoPE, followed by a routed SwiGLU MoE. No shared expert, no biases.
#include "model/qwen3moe.h"

#include <algorithm>

#include "model/blocks.h"
#include "model/weights.h"
#include "util/error.h"

namespace sluice {

namespace {

struct Layer {
    std::vector<float> attn_norm, ffn_norm, q_norm, k_norm;
    Weight wq, wk, wv, wo, router;
};

class Qwen3MoeState : public ModelState {
public:
    std::vector<KvCache> kv;
    uint64_t bytes() const override {
        uint64_t b = 0;
        for (const auto& c : kv) b += (c.k.size() + c.v.size()) * sizeof(float);
        return b;
    }
};

class Qwen3Moe : public Model {
public:
    Qwen3Moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options)
        : c_(desc.config), weights_(desc, options.own_dense, options.repack), experts_(experts) {
        const int64_t H = c_.hidden, D = c_.head_dim, V = c_.vocab_size;
        io_.embed = weights_.matrix("token_embd.weight", V, H);
        io_.output_norm = weights_.vector("output_norm.weight", H);
        io_.output = weights_.has("output.weight") ? weights_.matrix("output.weight", V, H) : io_.embed;
        routing_ = moe_routing(c_, options.experts_per_token, options.uniform_routing);
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            std::string p = "blk." + std::to_string(l) + ".";
            Layer L;
            L.attn_norm = weights_.vector(p + "attn_norm.weight", H);
            L.ffn_norm = weights_.vector(p + "ffn_norm.weight", H);
            L.q_norm = weights_.vector(p + "attn_q_norm.weight", D);
            L.k_norm = weights_.vector(p + "attn_k_norm.weight", D);
            L.wq = weights_.matrix(p + "attn_q.weight", c_.n_heads * D, H);
            L.wk = weights_.matrix(p + "attn_k.weight", c_.n_kv_heads * D, H);
            L.wv = weights_.matrix(p + "attn_v.weight", c_.n_kv_heads * D, H);
            L.wo = weights_.matrix(p + "attn_output.weight", H, c_.n_heads * D);
            L.router = weights_.matrix(p + "ffn_gate_inp.weight", c_.n_experts, H);
            layers_.push_back(std::move(L));
        }
    }

    const ModelConfig& config() const override { return c_; }

    std::unique_ptr<ModelState> new_state(int64_t capacity) const override {
        auto s = std::make_unique<Qwen3MoeState>();
        s->capacity = capacity;
        for (int64_t l = 0; l < c_.n_layers; ++l) s->kv.emplace_back(capacity, c_.n_kv_heads, c_.head_dim);
        return s;
    }

    uint64_t dense_bytes() const override { return weights_.desc().dense_bytes(); }

    void forward(ModelState& base, const int32_t* tokens, int64_t n, float* logits, bool all_logits) override {
        auto& state = static_cast<Qwen3MoeState&>(base);
        const int64_t H = c_.hidden, D = c_.head_dim, nh = c_.n_heads, nkv = c_.n_kv_heads, pos0 = state.n_past;
        if (pos0 + n > state.capacity)
            fail("context full: {} tokens do not fit in the {}-token context", pos0 + n, state.capacity);
        std::vector<float> h(size_t(n * H)), x(size_t(n * H)), a(size_t(n * H));
        std::vector<float> q(size_t(n * nh * D)), k(size_t(n * nkv * D)), v(size_t(n * nkv * D)), o(size_t(n * nh * D));
        io_.embed_tokens(tokens, n, h.data());
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            const Layer& L = layers_[size_t(l)];
            rms_norm(h.data(), L.attn_norm.data(), x.data(), n, H, c_.rms_eps);
            attention_inputs(L.wq, L.wk, L.wv, x.data(), n, q.data(), k.data(), v.data());
            rms_norm(q.data(), L.q_norm.data(), q.data(), n * nh, D, c_.rms_eps);
            rms_norm(k.data(), L.k_norm.data(), k.data(), n * nkv, D, c_.rms_eps);
            rope_neox(q.data(), n, nh, D, c_.rope_dim, pos0, c_.rope_theta);
            rope_neox(k.data(), n, nkv, D, c_.rope_dim, pos0, c_.rope_theta);
            attention(q.data(), k.data(), v.data(), n, pos0, nh, state.kv[size_t(l)], o.data());
            matmul(L.wo, o.data(), n, a.data());
            for (size_t i = 0; i < h.size(); ++i) h[i] += a[i];

            rms_norm(h.data(), L.ffn_norm.data(), x.data(), n, H, c_.rms_eps);
            if (n == 1 && l + 1 < c_.n_layers && experts_.wants_prefetch()) {
                const Layer& next = layers_[size_t(l + 1)];
                prefetch_predicted(next.router, next.ffn_norm.data(), c_.rms_eps, routing_, experts_, l + 1, h.data());
            }
            moe_routed(L.router, routing_, experts_, l, x.data(), n, h.data());
        }
        state.n_past += n;
        io_.logits(h.data(), all_logits ? 0 : n - 1, n, c_.rms_eps, x.data(), logits);
    }

private:
    ModelConfig c_;
    DenseWeights weights_;
    ExpertSource& experts_;
    MoeRouting routing_;
    TokenIo io_;
    std::vector<Layer> layers_;
};

}  // namespace

std::unique_ptr<Model> load_qwen3moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options) {
    return std::make_unique<Qwen3Moe>(desc, experts, options);
}

}  // namespace sluice
