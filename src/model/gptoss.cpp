// gpt-oss (OpenAI's open-weight MoE, llama.cpp's `gpt-oss`): pre-norm decoder layers of GQA
// attention with biases, per-head sinks and YaRN NeoX RoPE, the even layers attending to a
// sliding window; then routed experts chosen by the K largest router logits (router bias
// included) weighted by a softmax over those K, each a SwiGLU with biases, clamped (model/blocks.h:
// BiasedExperts). No shared expert.
#include "model/gptoss.h"

#include "model/blocks.h"
#include "model/weights.h"
#include "util/error.h"

namespace sluice {

namespace {

struct Layer {
    Vec attn_norm, ffn_norm, bq, bk, bv, bo, sinks;
    Weight wq, wk, wv, wo, router;
    // Host copies the routing reads (MoeRouting's spans point into them).
    std::vector<float> router_bias, gate_bias, up_bias, down_bias;
    MoeRouting routing;
};

class GptOss : public Model {
public:
    GptOss(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options)
        : c_(desc.config),
          be_(options.backend ? options.backend : make_cpu_backend()),
          weights_(desc, *be_, options.own_dense, options.repack),
          experts_(experts),
          rope_(rotary_table(c_, c_.head_dim)) {
        const int64_t H = c_.hidden, D = c_.head_dim, E = c_.n_experts, I = c_.expert_ffn;
        const int64_t nq = c_.n_heads * D, nkv = c_.n_kv_heads * D;
        if (c_.rope_dim != D) fail("{}: gpt-oss rotates whole heads, but the rope dimension is {} of {}", desc.path, c_.rope_dim, D);
        io_ = TokenIo::load(weights_, c_);
        cache_type_ = options.cache_type;
        const MoeRouting routing = moe_routing(c_, options.experts_per_token, options.uniform_routing);
        layers_.resize(size_t(c_.n_layers));   // before the spans into each layer are taken
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            Layer& L = layers_[size_t(l)];
            L.attn_norm = weights_.vec(p + "attn_norm.weight", H);
            L.ffn_norm = weights_.vec(p + "post_attention_norm.weight", H);
            L.wq = weights_.matrix(p + "attn_q.weight", nq, H);
            L.wk = weights_.matrix(p + "attn_k.weight", nkv, H);
            L.wv = weights_.matrix(p + "attn_v.weight", nkv, H);
            L.wo = weights_.matrix(p + "attn_output.weight", H, nq);
            L.bq = weights_.vec(p + "attn_q.bias", nq);
            L.bk = weights_.vec(p + "attn_k.bias", nkv);
            L.bv = weights_.vec(p + "attn_v.bias", nkv);
            L.bo = weights_.vec(p + "attn_output.bias", H);
            L.sinks = weights_.vec(p + "attn_sinks.weight", c_.n_heads);
            L.router = weights_.matrix(p + "ffn_gate_inp.weight", E, H);
            L.router_bias = weights_.vector(p + "ffn_gate_inp.bias", E);
            if (weights_.has(p + "ffn_gate_up_exps.bias")) {
                // Hugging Face's [E, 2I], gate and up interleaved.
                const std::vector<float> both = weights_.floats(p + "ffn_gate_up_exps.bias", {2 * I, E});
                for (size_t i = 0; i < both.size(); i += 2) {
                    L.gate_bias.push_back(both[i]);
                    L.up_bias.push_back(both[i + 1]);
                }
            } else {
                L.gate_bias = weights_.floats(p + "ffn_gate_exps.bias", {I, E});
                L.up_bias = weights_.floats(p + "ffn_up_exps.bias", {I, E});
            }
            L.down_bias = weights_.floats(p + "ffn_down_exps.bias", {H, E});
            L.routing = routing;
            L.routing.logit_bias = L.router_bias;
            L.routing.experts = {L.gate_bias, L.up_bias, L.down_bias, c_.swiglu_limit};
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
            const int64_t window = c_.is_sliding(l) ? c_.sliding_window : 0;
            for (const SequenceRows& s : seqs) {
                const Act qs = q.rows_from(s.row0, s.n), ks = k.rows_from(s.row0, s.n);
                be.rope_halves(qs, nh, rope_, s.pos0);
                be.rope_halves(ks, nkv, rope_, s.pos0);
                be.attention_sinks(qs, ks, v.rows_from(s.row0, s.n), s.layer_state(l), s.pos0, L.sinks, window,
                                   o.rows_from(s.row0, s.n));
            }
            be.matmul(L.wo, o, a);
            be.add_bias(a, L.bo);

            be.add_rms_norm(h, a, L.ffn_norm, x, c_.rms_eps);
            if (n == 1 && l + 1 < c_.n_layers && experts_.wants_prefetch()) {
                const Layer& next = layers_[size_t(l + 1)];
                be.prefetch_predicted(next.router, next.ffn_norm, c_.rms_eps, next.routing, experts_, l + 1, h);
            }
            be.moe(L.router, L.routing, experts_, l, x, h);
        }
        pass.finish(c_.rms_eps);
    }

private:
    ModelConfig c_;
    std::shared_ptr<Backend> be_;
    DenseWeights weights_;
    ExpertSource& experts_;
    RotaryTable rope_;
    KvCacheType cache_type_ = KvCacheType::F32;
    TokenIo io_;
    std::vector<Layer> layers_;
};

}  // namespace

std::unique_ptr<Model> load_gptoss(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options) {
    return std::make_unique<GptOss>(desc, experts, options);
}

}  // namespace sluice
