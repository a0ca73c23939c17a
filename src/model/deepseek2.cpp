// DeepSeek-V3 / R1 and Kimi-K2 (DeepseekV3ForCausalLM, llama.cpp's deepseek2): pre-norm decoder
// layers of multi-head latent attention, then the sigmoid-routed MoE with shared experts
// (model/sigmoid_moe_ffn.h) — a dense SwiGLU in the first layers.
//
// Attention runs in the absorbed form for prefill and decode alike (model/latent_attention.h):
// the query's no-RoPE part is multiplied by each head's key up-projection W_k (q·W_kᵀ, L values),
// scores are taken against the cached latents and RoPE keys directly, and each head's weighted
// latent is expanded by its W_v afterwards. The cache holds only kv_lora + rope values per token
// (what makes a long context fit a budget), and no per-head K or V is ever materialised; the
// cost is L-wide instead of nope-wide dot products per head, which llama.cpp accepts too.
#include "model/deepseek2.h"

#include <cmath>
#include <numeric>

#include "model/blocks.h"
#include "model/sigmoid_moe_ffn.h"
#include "model/weights.h"
#include "util/error.h"

namespace sluice {

namespace {

struct Layer {
    Vec attn_norm, q_a_norm, kv_a_norm;
    Weight q_a, q_b, kv_a, wo;
    std::vector<Weight> k_b;   // per head [L, nope]: the query's no-RoPE part → latent space
    std::vector<Weight> v_b;   // per head [v, L]: the attended latent → the head's value
};

bool float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

class DeepSeek2 : public Model {
public:
    DeepSeek2(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options)
        : c_(desc.config),
          be_(options.backend ? options.backend : make_cpu_backend()),
          weights_(desc, *be_, options.own_dense, options.repack),
          experts_(experts),
          cache_type_(options.cache_type),
          rope_(rotary_table(c_, c_.rope_dim)) {
        const int64_t H = c_.hidden, nh = c_.n_heads, L = c_.kv_lora, R = c_.rope_dim;
        const int64_t dn = c_.qk_nope, dv = c_.v_head_dim;
        io_ = TokenIo::load(weights_, c_);
        const MoeRouting routing = moe_routing(c_, options.experts_per_token, options.uniform_routing);
        scale_ = c_.yarn.attn_mscale * c_.yarn.attn_mscale / std::sqrt(float(dn + R));

        // Column maps splitting q [n, nh·(dn+R)] into its no-RoPE and RoPE parts, and the
        // kv_a output [n, L+R] into the latent and the RoPE key.
        std::vector<int32_t> nope, rope, latent(static_cast<size_t>(L)), k_rope(static_cast<size_t>(R));
        for (int64_t h = 0; h < nh; ++h)
            for (int64_t j = 0; j < dn + R; ++j) (j < dn ? nope : rope).push_back(int32_t(h * (dn + R) + j));
        std::iota(latent.begin(), latent.end(), 0);
        std::iota(k_rope.begin(), k_rope.end(), int32_t(L));
        q_nope_map_ = be_->index(nope);
        q_rope_map_ = be_->index(rope);
        latent_map_ = be_->index(latent);
        k_rope_map_ = be_->index(k_rope);

        for (int64_t l = 0; l < c_.n_layers; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            Layer Ly;
            Ly.attn_norm = weights_.vec(p + "attn_norm.weight", H);
            Ly.q_a = weights_.matrix(p + "attn_q_a.weight", c_.q_lora, H);
            Ly.q_a_norm = weights_.vec(p + "attn_q_a_norm.weight", c_.q_lora);
            Ly.q_b = weights_.matrix(p + "attn_q_b.weight", nh * (dn + R), c_.q_lora);
            Ly.kv_a = weights_.matrix(p + "attn_kv_a_mqa.weight", L + R, H);
            Ly.kv_a_norm = weights_.vec(p + "attn_kv_a_norm.weight", L);
            Ly.wo = weights_.matrix(p + "attn_output.weight", H, nh * dv);
            if (weights_.has(p + "attn_k_b.weight")) {
                Ly.k_b = weights_.matrices(p + "attn_k_b.weight", nh, L, dn);
                Ly.v_b = weights_.matrices(p + "attn_v_b.weight", nh, dv, L);
            } else {
                split_kv_b(p + "attn_kv_b.weight", Ly);
            }
            layers_.push_back(std::move(Ly));
            ffn_.emplace_back(weights_, c_, routing, l, "ffn_norm.weight");
        }
    }

    const ModelConfig& config() const override { return c_; }

    std::unique_ptr<ModelState> new_state(int64_t capacity) const override {
        auto s = std::make_unique<ModelState>();
        s->capacity = capacity;
        for (int64_t l = 0; l < c_.n_layers; ++l)
            s->layers.push_back(be_->latent_cache(capacity, c_.kv_lora, c_.rope_dim, cache_type_));
        return s;
    }

    uint64_t dense_bytes() const override { return weights_.desc().dense_bytes(); }

    void forward_batch(std::span<const SequenceStep> steps) override {
        const int64_t nh = c_.n_heads, L = c_.kv_lora, R = c_.rope_dim;
        const int64_t dn = c_.qk_nope, dv = c_.v_head_dim;
        Backend& be = *be_;
        DecoderPass pass(be, steps, io_, c_.hidden);
        const std::vector<SequenceRows>& seqs = pass.seqs;
        const int64_t n = pass.n;
        const Act h = pass.h, x = pass.x, a = pass.a;
        Act qa = be.act(n, c_.q_lora), q = be.act(n, nh * (dn + R)), kva = be.act(n, L + R);
        Act q_nope = be.act(n, nh * dn), q_rope = be.act(n, nh * R), q_latent = be.act(n, nh * L);
        Act latent = be.act(n, L), k_rope = be.act(n, R), o_latent = be.act(n, nh * L), o = be.act(n, nh * dv);
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            const Layer& Ly = layers_[size_t(l)];
            be.rms_norm(h, Ly.attn_norm, x, c_.rms_eps);
            const Weight* down[] = {&Ly.q_a, &Ly.kv_a};
            const Act down_out[] = {qa, kva};
            be.matmul_shared(down, x, down_out);
            be.rms_norm(qa, Ly.q_a_norm, qa, c_.rms_eps);
            be.matmul(Ly.q_b, qa, q);
            be.gather_cols(q, q_nope_map_, q_nope);
            be.gather_cols(q, q_rope_map_, q_rope);
            be.gather_cols(kva, latent_map_, latent);
            be.gather_cols(kva, k_rope_map_, k_rope);
            be.rms_norm(latent, Ly.kv_a_norm, latent, c_.rms_eps);
            be.matmul_per_head(Ly.k_b, q_nope, q_latent);
            for (const SequenceRows& s : seqs) {
                Act qr = q_rope.rows_from(s.row0, s.n), kr = k_rope.rows_from(s.row0, s.n);
                be.rope_pairs(qr, nh, rope_, s.pos0);
                be.rope_pairs(kr, 1, rope_, s.pos0);
                be.latent_attention(q_latent.rows_from(s.row0, s.n), qr, latent.rows_from(s.row0, s.n), kr,
                                    s.layer_state(l), s.pos0, scale_, o_latent.rows_from(s.row0, s.n));
            }
            be.matmul_per_head(Ly.v_b, o_latent, o);
            be.matmul(Ly.wo, o, a);
            be.add(h, a);
            ffn_[size_t(l)].run(be, experts_, c_.rms_eps, h, x, l + 1 < c_.n_layers ? &ffn_[size_t(l + 1)] : nullptr);
        }
        pass.finish(c_.rms_eps);
    }

private:
    // Transformers' kv_b_proj (and older GGUFs' attn_kv_b) [nh·(nope+v), L], per head the key rows
    // then the value rows: the key part transposed for the absorbed query, the value part as is,
    // both kept in the file's float type (or float32 from a quantised one).
    void split_kv_b(const std::string& name, Layer& Ly) {
        const int64_t nh = c_.n_heads, L = c_.kv_lora, dn = c_.qk_nope, dv = c_.v_head_dim;
        const std::vector<float> kv_b = weights_.floats(name, {L, nh * (dn + dv)});
        const GgmlType type = float_type(weights_.type_of(name)) ? weights_.type_of(name) : GgmlType::F32;
        std::vector<float> k(static_cast<size_t>(L * dn)), v(static_cast<size_t>(dv * L));
        for (int64_t h = 0; h < nh; ++h) {
            const float* rows = kv_b.data() + h * (dn + dv) * L;
            for (int64_t j = 0; j < dn; ++j)
                for (int64_t i = 0; i < L; ++i) k[size_t(i * dn + j)] = rows[j * L + i];
            std::copy_n(rows + dn * L, dv * L, v.begin());
            Ly.k_b.push_back(weights_.made_matrix(k, L, dn, type, name));
            Ly.v_b.push_back(weights_.made_matrix(v, dv, L, type, name));
        }
    }

    ModelConfig c_;
    std::shared_ptr<Backend> be_;
    DenseWeights weights_;
    ExpertSource& experts_;
    KvCacheType cache_type_;
    RotaryTable rope_;
    float scale_ = 1;
    Index q_nope_map_, q_rope_map_, latent_map_, k_rope_map_;
    TokenIo io_;
    std::vector<Layer> layers_;
    std::vector<SigmoidMoeFfn> ffn_;
};

}  // namespace

std::unique_ptr<Model> load_deepseek2(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options) {
    return std::make_unique<DeepSeek2>(desc, experts, options);
}

}  // namespace sluice
