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
    Vec attn_norm, ffn_norm, q_norm, k_norm;
    Weight wq, wk, wv, wo, router;
};

class Qwen3Moe : public Model {
public:
    Qwen3Moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options)
        : c_(desc.config),
          be_(options.backend ? options.backend : make_cpu_backend()),
          weights_(desc, *be_, options.own_dense, options.repack),
          experts_(experts) {
        const int64_t H = c_.hidden, D = c_.head_dim;
        io_ = TokenIo::load(weights_, c_);
        routing_ = moe_routing(c_, options.experts_per_token, options.uniform_routing);
        cache_type_ = options.cache_type;
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            std::string p = "blk." + std::to_string(l) + ".";
            Layer L;
            L.attn_norm = weights_.vec(p + "attn_norm.weight", H);
            L.ffn_norm = weights_.vec(p + "ffn_norm.weight", H);
            L.q_norm = weights_.vec(p + "attn_q_norm.weight", D);
            L.k_norm = weights_.vec(p + "attn_k_norm.weight", D);
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
        return kv_cache_state(*be_, c_, capacity, cache_type_);
    }

    uint64_t dense_bytes() const override { return weights_.desc().dense_bytes(); }

    void forward_batch(std::span<const SequenceStep> steps) override {
        const int64_t D = c_.head_dim, nh = c_.n_heads, nkv = c_.n_kv_heads;
        Backend& be = *be_;
        DecoderPass pass(be, steps, io_, c_.hidden);
        const std::vector<SequenceRows>& seqs = pass.seqs;
        const int64_t n = pass.n;
        const Act h = pass.h, x = pass.x, a = pass.a;
        Act q = be.act(n, nh * D), k = be.act(n, nkv * D), v = be.act(n, nkv * D), o = be.act(n, nh * D);
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            const Layer& L = layers_[size_t(l)];
            be.rms_norm(h, L.attn_norm, x, c_.rms_eps);
            project_qkv(be, L.wq, L.wk, L.wv, x, q, k, v);
            rope_attention(be, seqs, l, q, k, v, o, nkv, {L.q_norm, L.k_norm, c_.rms_eps}, c_.rope_dim, c_.rope_theta);
            be.matmul(L.wo, o, a);

            be.add_rms_norm(h, a, L.ffn_norm, x, c_.rms_eps);
            if (l + 1 < c_.n_layers && experts_.wants_prefetch()) {
                const Layer& next = layers_[size_t(l + 1)];
                be.prefetch_predicted(next.router, next.ffn_norm, c_.rms_eps, routing_, experts_, l + 1, h);
            }
            be.moe(L.router, routing_, experts_, l, x, h);
        }
        pass.finish(c_.rms_eps);
    }

private:
    ModelConfig c_;
    std::shared_ptr<Backend> be_;
    DenseWeights weights_;
    ExpertSource& experts_;
    MoeRouting routing_;
    KvCacheType cache_type_ = KvCacheType::F32;
    TokenIo io_;
    std::vector<Layer> layers_;
};

}  // namespace

std::unique_ptr<Model> load_qwen3moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options) {
    return std::make_unique<Qwen3Moe>(desc, experts, options);
}

}  // namespace sluice
