// GLM-4.5 / 4.6 / 4.7 (Glm4MoeForCausalLM, llama.cpp's glm4moe): pre-norm decoder layers of GQA
// attention with biased q/k/v projections, optional per-head q/k RMSNorm and NeoX RoPE of the
// first rope_dim dims of each head (partial RoPE), then the sigmoid-routed MoE with a shared
// expert (model/sigmoid_moe_ffn.h) — a dense SwiGLU in the first layers.
#include "model/glm4moe.h"

#include "model/blocks.h"
#include "model/sigmoid_moe_ffn.h"
#include "model/weights.h"

namespace sluice {

namespace {

struct Layer {
    Vec attn_norm, q_norm, k_norm, bq, bk, bv;
    bool qk_norm = false;
    Weight wq, wk, wv, wo;
};

class Glm4Moe : public Model {
public:
    Glm4Moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options)
        : c_(desc.config),
          be_(options.backend ? options.backend : make_cpu_backend()),
          weights_(desc, *be_, options.own_dense, options.repack),
          experts_(experts),
          cache_type_(options.cache_type) {
        const int64_t H = c_.hidden, D = c_.head_dim;
        io_ = TokenIo::load(weights_, c_);
        const MoeRouting routing = moe_routing(c_, options.experts_per_token, options.uniform_routing);
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            Layer L;
            L.attn_norm = weights_.vec(p + "attn_norm.weight", H);
            // GLM-4.5 normalises q and k per head; GLM-4.5-Air and the 4.6 releases do not.
            L.qk_norm = weights_.has(p + "attn_q_norm.weight");
            if (L.qk_norm) {
                L.q_norm = weights_.vec(p + "attn_q_norm.weight", D);
                L.k_norm = weights_.vec(p + "attn_k_norm.weight", D);
            }
            L.wq = weights_.matrix(p + "attn_q.weight", c_.n_heads * D, H);
            L.wk = weights_.matrix(p + "attn_k.weight", c_.n_kv_heads * D, H);
            L.wv = weights_.matrix(p + "attn_v.weight", c_.n_kv_heads * D, H);
            L.bq = weights_.vec(p + "attn_q.bias", c_.n_heads * D);
            L.bk = weights_.vec(p + "attn_k.bias", c_.n_kv_heads * D);
            L.bv = weights_.vec(p + "attn_v.bias", c_.n_kv_heads * D);
            L.wo = weights_.matrix(p + "attn_output.weight", H, c_.n_heads * D);
            layers_.push_back(L);
            // llama.cpp's converter names the pre-FFN norm post_attention_norm for glm4moe.
            const std::string norm = weights_.has(p + "post_attention_norm.weight") ? "post_attention_norm.weight"
                                                                                     : "ffn_norm.weight";
            ffn_.emplace_back(weights_, c_, routing, l, norm);
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
            be.add_bias(q, L.bq);
            be.add_bias(k, L.bk);
            be.add_bias(v, L.bv);
            const QkNorm qk_norm = L.qk_norm ? QkNorm{L.q_norm, L.k_norm, c_.rms_eps} : QkNorm{};
            rope_attention(be, seqs, l, q, k, v, o, nkv, qk_norm, c_.rope_dim, c_.rope_theta);
            be.matmul(L.wo, o, a);
            be.add(h, a);
            ffn_[size_t(l)].run(be, experts_, c_.rms_eps, h, x, l + 1 < c_.n_layers ? &ffn_[size_t(l + 1)] : nullptr);
        }
        pass.finish(c_.rms_eps);
    }

private:
    ModelConfig c_;
    std::shared_ptr<Backend> be_;
    DenseWeights weights_;
    ExpertSource& experts_;
    KvCacheType cache_type_;
    TokenIo io_;
    std::vector<Layer> layers_;
    std::vector<SigmoidMoeFfn> ffn_;
};

}  // namespace

std::unique_ptr<Model> load_glm4moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options) {
    return std::make_unique<Glm4Moe>(desc, experts, options);
}

}  // namespace sluice
