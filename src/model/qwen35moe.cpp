// Qwen3.5-MoE and Qwen3-Next (model-spec §B): hybrid stacks in which most layers are Gated
// DeltaNet (linear attention with a recurrent matrix state) and every few layers gated full
// attention; every layer's FFN is a routed MoE plus a sigmoid-gated shared expert.
//
// The files' conventions (model_desc.h `Conventions`) are absorbed where that is cheap: the
// zero-centred norms get their 1 added at load time and the kernel takes A in either form.
// The v-head order of llama.cpp's qwen35 GGUFs is not undone: permuting the input columns of
// ssm_out would mean rewriting quantised blocks, so every v-indexed tensor stays in the file's
// order and only the k-head that a v-head reads changes (DeltaNetDims::tiled_v_heads).
#include "model/qwen35moe.h"

#include <algorithm>
#include <cmath>

#include "kernels/deltanet.h"
#include "model/blocks.h"
#include "model/weights.h"
#include "util/error.h"

namespace sluice {

namespace {

struct FullAttention {
    Weight wq, wk, wv, wo;                  // wq: [2·nh·D, H], query and gate interleaved per head
    std::vector<float> q_norm, k_norm;
};

struct LinearAttention {
    // Qwen3.5 (and llama.cpp's Qwen3-Next GGUFs): plain projections. Qwen3-Next checkpoints:
    // qkvz and ba grouped by k-head (model-spec §B.4 step 1), regrouped after the product.
    Weight qkv, z, qkvz, beta, alpha, ba;
    Weight out;
    std::vector<float> conv;      // [conv_dim, Kc]
    std::vector<float> dt_bias;   // [nv]
    std::vector<float> a;         // [nv], A_log or −exp(A_log) as Conventions says
    std::vector<float> norm;      // [dv], a plain multiplier
};

struct Layer {
    bool linear = false;
    std::vector<float> attn_norm, post_norm;
    FullAttention attn;
    LinearAttention lin;
    Weight router, shared_gate, shared_up, shared_down, shared_router;
};

class HybridState : public ModelState {
public:
    std::vector<KvCache> kv;                // full-attention layers, in layer order
    std::vector<DeltaNetState> deltanet;    // linear-attention layers, in layer order
    void reset() override {
        n_past = 0;
        for (auto& s : deltanet) s.reset();
    }
    uint64_t bytes() const override {
        uint64_t b = 0;
        for (const auto& c : kv) b += (c.k.size() + c.v.size()) * sizeof(float);
        for (const auto& s : deltanet) b += (s.conv.size() + s.recurrent.size()) * sizeof(float);
        return b;
    }
};

class Qwen35Moe : public Model {
public:
    Qwen35Moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options)
        : c_(desc.config), conventions_(desc.conventions), weights_(desc, options.own_dense, options.repack), experts_(experts) {
        const int64_t H = c_.hidden, V = c_.vocab_size;
        if (c_.shared_expert_ffn <= 0) fail("{}: {} needs a shared expert width", desc.path, arch_name(c_.arch));
        if (c_.lin_k_heads <= 0 || c_.lin_v_heads % c_.lin_k_heads != 0 || c_.lin_k_dim <= 0 || c_.lin_v_dim <= 0 ||
            c_.conv_kernel <= 0)
            fail("{}: inconsistent linear-attention geometry ({} k-heads, {} v-heads, dims {}/{}, kernel {})", desc.path,
                 c_.lin_k_heads, c_.lin_v_heads, c_.lin_k_dim, c_.lin_v_dim, c_.conv_kernel);
        io_.embed = weights_.matrix("token_embd.weight", V, H);
        io_.output_norm = norm("output_norm.weight", H);
        io_.output = weights_.has("output.weight") ? weights_.matrix("output.weight", V, H) : io_.embed;
        routing_ = moe_routing(c_, options.experts_per_token, options.uniform_routing);
        for (int64_t l = 0; l < c_.n_layers; ++l) layers_.push_back(load_layer(l));
    }

    const ModelConfig& config() const override { return c_; }
    uint64_t dense_bytes() const override { return weights_.desc().dense_bytes(); }

    std::unique_ptr<ModelState> new_state(int64_t capacity) const override {
        auto s = std::make_unique<HybridState>();
        s->capacity = capacity;
        for (const Layer& L : layers_) {
            if (L.linear) s->deltanet.emplace_back(dims());
            else s->kv.emplace_back(capacity, c_.n_kv_heads, c_.head_dim);
        }
        return s;
    }

    void forward(ModelState& base, const int32_t* tokens, int64_t n, float* logits, bool all_logits) override {
        auto& state = static_cast<HybridState&>(base);
        const int64_t H = c_.hidden;
        if (state.n_past + n > state.capacity)
            fail("context full: {} tokens do not fit in the {}-token context", state.n_past + n, state.capacity);
        std::vector<float> h(size_t(n * H)), x(size_t(n * H)), a(size_t(n * H));
        io_.embed_tokens(tokens, n, h.data());
        size_t kv_slot = 0, dn_slot = 0;
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            const Layer& L = layers_[size_t(l)];
            rms_norm(h.data(), L.attn_norm.data(), x.data(), n, H, c_.rms_eps);
            if (L.linear) linear_attention(L.lin, state.deltanet[dn_slot++], x.data(), n, a.data());
            else full_attention(L.attn, state.kv[kv_slot++], state.n_past, x.data(), n, a.data());
            for (size_t i = 0; i < h.size(); ++i) h[i] += a[i];

            rms_norm(h.data(), L.post_norm.data(), x.data(), n, H, c_.rms_eps);
            if (n == 1 && l + 1 < c_.n_layers && experts_.wants_prefetch()) {
                const Layer& next = layers_[size_t(l + 1)];
                prefetch_predicted(next.router, next.post_norm.data(), c_.rms_eps, routing_, experts_, l + 1, h.data());
            }
            moe_routed(L.router, routing_, experts_, l, x.data(), n, h.data());
            shared_expert(L, x.data(), n, h.data());
        }
        state.n_past += n;
        io_.logits(h.data(), all_logits ? 0 : n - 1, n, c_.rms_eps, x.data(), logits);
    }

private:
    DeltaNetDims dims() const {
        DeltaNetDims d;
        d.n_k_heads = int(c_.lin_k_heads);
        d.n_v_heads = int(c_.lin_v_heads);
        d.k_dim = int(c_.lin_k_dim);
        d.v_dim = int(c_.lin_v_dim);
        d.conv_kernel = int(c_.conv_kernel);
        d.tiled_v_heads = conventions_.v_heads_tiled;
        return d;
    }
    int64_t key_dim() const { return c_.lin_k_heads * c_.lin_k_dim; }
    int64_t value_dim() const { return c_.lin_v_heads * c_.lin_v_dim; }
    int64_t conv_dim() const { return 2 * key_dim() + value_dim(); }

    // A zero-centred RMSNorm weight as the plain multiplier 1 + w (model-spec §B.5).
    std::vector<float> norm(const std::string& name, int64_t n) {
        std::vector<float> w = weights_.vector(name, n);
        if (!conventions_.norm_has_unit_offset)
            for (float& v : w) v += 1.0f;
        return w;
    }

    Layer load_layer(int64_t l) {
        const int64_t H = c_.hidden, D = c_.head_dim, nh = c_.n_heads, nkv = c_.n_kv_heads;
        const std::string p = "blk." + std::to_string(l) + ".";
        Layer L;
        L.linear = c_.is_linear(l);
        L.attn_norm = norm(p + "attn_norm.weight", H);
        L.post_norm = norm(p + "post_attention_norm.weight", H);
        if (L.linear) {
            L.lin = load_linear(p);
        } else {
            FullAttention& A = L.attn;
            A.wq = weights_.matrix(p + "attn_q.weight", 2 * nh * D, H);
            A.wk = weights_.matrix(p + "attn_k.weight", nkv * D, H);
            A.wv = weights_.matrix(p + "attn_v.weight", nkv * D, H);
            A.wo = weights_.matrix(p + "attn_output.weight", H, nh * D);
            A.q_norm = norm(p + "attn_q_norm.weight", D);
            A.k_norm = norm(p + "attn_k_norm.weight", D);
        }
        L.router = weights_.matrix(p + "ffn_gate_inp.weight", c_.n_experts, H);
        const int64_t Is = c_.shared_expert_ffn;
        L.shared_gate = weights_.matrix(p + "ffn_gate_shexp.weight", Is, H);
        L.shared_up = weights_.matrix(p + "ffn_up_shexp.weight", Is, H);
        L.shared_down = weights_.matrix(p + "ffn_down_shexp.weight", H, Is);
        L.shared_router = weights_.matrix(p + "ffn_gate_inp_shexp.weight", 1, H);
        return L;
    }

    LinearAttention load_linear(const std::string& p) {
        const int64_t H = c_.hidden, nv = c_.lin_v_heads, Kc = c_.conv_kernel;
        LinearAttention A;
        if (weights_.has(p + "ssm_in.weight")) {
            A.qkvz = weights_.matrix(p + "ssm_in.weight", conv_dim() + value_dim(), H);
        } else {
            A.qkv = weights_.matrix(p + "attn_qkv.weight", conv_dim(), H);
            A.z = weights_.matrix(p + "attn_gate.weight", value_dim(), H);
        }
        if (weights_.has(p + "ssm_ba.weight")) {
            A.ba = weights_.matrix(p + "ssm_ba.weight", 2 * nv, H);
        } else {
            A.beta = weights_.matrix(p + "ssm_beta.weight", nv, H);
            A.alpha = weights_.matrix(p + "ssm_alpha.weight", nv, H);
        }
        A.out = weights_.matrix(p + "ssm_out.weight", H, value_dim());
        // HF keeps the conv weight as [conv_dim, 1, Kc], llama.cpp squeezes it to [conv_dim, Kc].
        const TensorRef* conv = weights_.desc().find(p + "ssm_conv1d.weight");
        bool unsqueezed = conv && conv->ne.size() == 3;
        A.conv = weights_.floats(p + "ssm_conv1d.weight",
                                 unsqueezed ? std::vector<int64_t>{Kc, 1, conv_dim()} : std::vector<int64_t>{Kc, conv_dim()});
        A.dt_bias = weights_.vector(p + "ssm_dt.bias", nv);
        A.a = weights_.vector(p + "ssm_a", nv);
        A.norm = weights_.vector(p + "ssm_norm.weight", c_.lin_v_dim);
        return A;
    }

    // Gated full attention (model-spec §B.6): the query's second half per head gates the output.
    void full_attention(const FullAttention& A, KvCache& kv, int64_t pos0, const float* x, int64_t n, float* out) const {
        const int64_t D = c_.head_dim, nh = c_.n_heads, nkv = c_.n_kv_heads;
        std::vector<float> qg(size_t(n * nh * 2 * D)), q(size_t(n * nh * D)), gate(q.size());
        std::vector<float> k(size_t(n * nkv * D)), v(k.size()), o(q.size());
        attention_inputs(A.wq, A.wk, A.wv, x, n, qg.data(), k.data(), v.data());
        for (int64_t th = 0; th < n * nh; ++th) {
            const float* src = qg.data() + th * 2 * D;
            std::copy_n(src, D, q.begin() + th * D);
            std::copy_n(src + D, D, gate.begin() + th * D);
        }
        rms_norm(q.data(), A.q_norm.data(), q.data(), n * nh, D, c_.rms_eps);
        rms_norm(k.data(), A.k_norm.data(), k.data(), n * nkv, D, c_.rms_eps);
        rope_neox(q.data(), n, nh, D, c_.rope_dim, pos0, c_.rope_theta);
        rope_neox(k.data(), n, nkv, D, c_.rope_dim, pos0, c_.rope_theta);
        attention(q.data(), k.data(), v.data(), n, pos0, nh, kv, o.data());
        for (size_t i = 0; i < o.size(); ++i) o[i] *= sigmoid(gate[i]);
        matmul(A.wo, o.data(), n, out);
    }

    // Gated DeltaNet (model-spec §B.4): projections here, the recurrence in kernels/deltanet.
    void linear_attention(const LinearAttention& A, DeltaNetState& s, const float* x, int64_t n, float* out) const {
        const int64_t nv = c_.lin_v_heads, vd = value_dim(), cd = conv_dim();
        std::vector<float> mixed(size_t(n * cd)), z(size_t(n * vd)), b(size_t(n * nv)), a(size_t(n * nv));
        if (A.qkvz.data) {
            ungroup_qkvz(A.qkvz, x, n, mixed.data(), z.data());
        } else {
            matmul(A.qkv, x, n, mixed.data());
            matmul(A.z, x, n, z.data());
        }
        if (A.ba.data) {
            ungroup_ba(A.ba, x, n, b.data(), a.data());
        } else {
            matmul(A.beta, x, n, b.data());
            matmul(A.alpha, x, n, a.data());
        }
        std::vector<float> o(size_t(n * vd));
        DeltaNetWeights w;
        w.conv = A.conv.data();
        w.A = A.a.data();
        w.A_form = conventions_.ssm_a_is_neg_exp ? DecayForm::NegExp : DecayForm::ALog;
        w.dt_bias = A.dt_bias.data();
        deltanet_forward(s.dims, w, s, n, mixed.data(), a.data(), b.data(), o.data());
        gated_rms_norm(o.data(), z.data(), A.norm.data(), n * c_.lin_v_heads, int(c_.lin_v_dim), c_.rms_eps, o.data());
        matmul(A.out, o.data(), n, out);
    }

    // Qwen3-Next's in_proj_qkvz rows, per k-head g: q_g (dk), k_g (dk), v and z of v-heads
    // g·r … g·r+r−1 (r·dv each) → mixed = [q_all | k_all | v_all] and z in natural head order.
    void ungroup_qkvz(const Weight& w, const float* x, int64_t n, float* mixed, float* z) const {
        const int64_t nk = c_.lin_k_heads, dk = c_.lin_k_dim, rdv = c_.lin_v_heads / nk * c_.lin_v_dim;
        const int64_t kd = key_dim(), group = 2 * dk + 2 * rdv, cd = conv_dim(), vd = value_dim();
        std::vector<float> p(size_t(n * w.rows));
        matmul(w, x, n, p.data());
        for (int64_t t = 0; t < n; ++t)
            for (int64_t g = 0; g < nk; ++g) {
                const float* src = p.data() + t * w.rows + g * group;
                float* m = mixed + t * cd;
                std::copy_n(src, dk, m + g * dk);
                std::copy_n(src + dk, dk, m + kd + g * dk);
                std::copy_n(src + 2 * dk, rdv, m + 2 * kd + g * rdv);
                std::copy_n(src + 2 * dk + rdv, rdv, z + t * vd + g * rdv);
            }
    }

    // Qwen3-Next's in_proj_ba rows, per k-head g: b then a of v-heads g·r … g·r+r−1.
    void ungroup_ba(const Weight& w, const float* x, int64_t n, float* b, float* a) const {
        const int64_t nk = c_.lin_k_heads, nv = c_.lin_v_heads, r = nv / nk;
        std::vector<float> p(size_t(n * 2 * nv));
        matmul(w, x, n, p.data());
        for (int64_t t = 0; t < n; ++t)
            for (int64_t g = 0; g < nk; ++g) {
                const float* src = p.data() + t * 2 * nv + g * 2 * r;
                std::copy_n(src, r, b + t * nv + g * r);
                std::copy_n(src + r, r, a + t * nv + g * r);
            }
    }

    // out += sigmoid(x · w_gate) · SwiGLU_shared(x)  (model-spec §B.7)
    void shared_expert(const Layer& L, const float* x, int64_t n, float* out) const {
        const int64_t H = c_.hidden;
        std::vector<float> y(size_t(n * H)), gate(static_cast<size_t>(n));
        swiglu_ffn(L.shared_gate, L.shared_up, L.shared_down, x, n, y.data());
        matmul(L.shared_router, x, n, gate.data());
        for (int64_t t = 0; t < n; ++t) {
            const float s = sigmoid(gate[size_t(t)]);
            for (int64_t d = 0; d < H; ++d) out[t * H + d] += s * y[size_t(t * H + d)];
        }
    }

    ModelConfig c_;
    Conventions conventions_;
    DenseWeights weights_;
    ExpertSource& experts_;
    MoeRouting routing_;
    TokenIo io_;
    std::vector<Layer> layers_;
};

}  // namespace

std::unique_ptr<Model> load_qwen35moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options) {
    return std::make_unique<Qwen35Moe>(desc, experts, options);
}

}  // namespace sluice
