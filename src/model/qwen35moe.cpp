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
    Vec q_norm, k_norm;
};

struct LinearAttention {
    // Qwen3.5 (and llama.cpp's Qwen3-Next GGUFs): plain projections. Qwen3-Next checkpoints:
    // qkvz and ba grouped by k-head (model-spec §B.4 step 1), regrouped after the product.
    Weight qkv, z, qkvz, beta, alpha, ba;
    Weight out;
    DeltaNetParams params;
    Vec norm;      // [dv], a plain multiplier
};

struct Layer {
    bool linear = false;
    Vec attn_norm, post_norm;
    FullAttention attn;
    LinearAttention lin;
    Weight router, shared_gate, shared_up, shared_down, shared_router;
};

// Column maps that regroup fused products (Backend::gather_cols).
struct Regrouping {
    Index q, gate;              // gated attention: per head [q_h | gate_h] → all q, all gates
    Index mixed, z, beta, alpha;  // Qwen3-Next's qkvz and ba grouped by k-head (model-spec §B.4)
};

class Qwen35Moe : public Model {
public:
    Qwen35Moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options)
        : c_(desc.config),
          conventions_(desc.conventions),
          be_(options.backend ? options.backend : make_cpu_backend()),
          weights_(desc, *be_, options.own_dense, options.repack),
          experts_(experts) {
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
        cache_type_ = options.cache_type;
        make_regrouping();
        for (int64_t l = 0; l < c_.n_layers; ++l) layers_.push_back(load_layer(l));
    }

    const ModelConfig& config() const override { return c_; }
    uint64_t dense_bytes() const override { return weights_.desc().dense_bytes(); }

    std::unique_ptr<ModelState> new_state(int64_t capacity) const override {
        auto s = std::make_unique<ModelState>();
        s->capacity = capacity;
        for (const Layer& L : layers_)
            s->layers.push_back(L.linear ? be_->deltanet_state(dims())
                                         : be_->kv_cache(capacity, c_.n_kv_heads, c_.head_dim, cache_type_));
        return s;
    }

    void forward_batch(std::span<const SequenceStep> steps) override {
        Backend& be = *be_;
        DecoderPass pass(be, steps, io_, c_.hidden);
        const std::vector<SequenceRows>& seqs = pass.seqs;
        const Act h = pass.h, x = pass.x, a = pass.a;
        for (int64_t l = 0; l < c_.n_layers; ++l) {
            const Layer& L = layers_[size_t(l)];
            be.rms_norm(h, L.attn_norm, x, c_.rms_eps);
            if (L.linear) linear_attention(L.lin, seqs, l, x, a);
            else full_attention(L.attn, seqs, l, x, a);

            be.add_rms_norm(h, a, L.post_norm, x, c_.rms_eps);
            if (l + 1 < c_.n_layers && experts_.wants_prefetch()) {
                const Layer& next = layers_[size_t(l + 1)];
                be.prefetch_predicted(next.router, next.post_norm, c_.rms_eps, routing_, experts_, l + 1, h);
            }
            be.moe(L.router, routing_, experts_, l, x, h);
            shared_expert(L, x, h);
        }
        pass.finish(c_.rms_eps);
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
    Vec norm(const std::string& name, int64_t n) {
        std::vector<float> w = weights_.vector(name, n);
        if (!conventions_.norm_has_unit_offset)
            for (float& v : w) v += 1.0f;
        return be_->vec(w);
    }

    void make_regrouping() {
        const int64_t D = c_.head_dim, nh = c_.n_heads;
        std::vector<int32_t> q, gate;
        for (int64_t hd = 0; hd < nh; ++hd)
            for (int64_t d = 0; d < D; ++d) {
                q.push_back(int32_t(hd * 2 * D + d));
                gate.push_back(int32_t(hd * 2 * D + D + d));
            }
        rg_.q = be_->index(q);
        rg_.gate = be_->index(gate);
        // qkvz rows per k-head g: q_g (dk), k_g (dk), then v and z of v-heads g·r … g·r+r−1
        // (r·dv each) → mixed = [q_all | k_all | v_all] and z in natural head order.
        const int64_t nk = c_.lin_k_heads, dk = c_.lin_k_dim, r = c_.lin_v_heads / nk, rdv = r * c_.lin_v_dim;
        const int64_t kd = key_dim(), group = 2 * dk + 2 * rdv;
        std::vector<int32_t> mixed(static_cast<size_t>(conv_dim())), z(static_cast<size_t>(value_dim())), beta, alpha;
        for (int64_t g = 0; g < nk; ++g) {
            for (int64_t i = 0; i < dk; ++i) {
                mixed[size_t(g * dk + i)] = int32_t(g * group + i);
                mixed[size_t(kd + g * dk + i)] = int32_t(g * group + dk + i);
            }
            for (int64_t i = 0; i < rdv; ++i) {
                mixed[size_t(2 * kd + g * rdv + i)] = int32_t(g * group + 2 * dk + i);
                z[size_t(g * rdv + i)] = int32_t(g * group + 2 * dk + rdv + i);
            }
            // ba rows per k-head g: b then a of its r v-heads.
            for (int64_t i = 0; i < r; ++i) {
                beta.push_back(int32_t(g * 2 * r + i));
                alpha.push_back(int32_t(g * 2 * r + r + i));
            }
        }
        rg_.mixed = be_->index(mixed);
        rg_.z = be_->index(z);
        rg_.beta = be_->index(beta);
        rg_.alpha = be_->index(alpha);
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
        DeltaNetParams& P = A.params;
        P.dims = dims();
        P.conv = be_->vec(weights_.floats(p + "ssm_conv1d.weight", unsqueezed ? std::vector<int64_t>{Kc, 1, conv_dim()}
                                                                              : std::vector<int64_t>{Kc, conv_dim()}));
        P.dt_bias = weights_.vec(p + "ssm_dt.bias", nv);
        P.a = weights_.vec(p + "ssm_a", nv);
        P.a_form = conventions_.ssm_a_is_neg_exp ? DecayForm::NegExp : DecayForm::ALog;
        A.norm = weights_.vec(p + "ssm_norm.weight", c_.lin_v_dim);
        return A;
    }

    // Gated full attention (model-spec §B.6): the query's second half per head gates the output.
    void full_attention(const FullAttention& A, std::span<const SequenceRows> seqs, int64_t l, Act x, Act out) const {
        const int64_t n = x.rows, D = c_.head_dim, nh = c_.n_heads, nkv = c_.n_kv_heads;
        Backend& be = *be_;
        Backend::Frame frame(be);
        Act qg = be.act(n, 2 * nh * D), q = be.act(n, nh * D), gate = be.act(n, nh * D);
        Act k = be.act(n, nkv * D), v = be.act(n, nkv * D), o = be.act(n, nh * D);
        const Weight* ws[] = {&A.wq, &A.wk, &A.wv};
        const Act ys[] = {qg, k, v};
        be.matmul_shared(ws, x, ys);
        be.gather_cols(qg, rg_.q, q);
        be.gather_cols(qg, rg_.gate, gate);
        rope_attention(be, seqs, l, q, k, v, o, nkv, {A.q_norm, A.k_norm, c_.rms_eps}, c_.rope_dim, c_.rope_theta);
        be.mul_sigmoid(o, gate);
        be.matmul(A.wo, o, out);
    }

    // Gated DeltaNet (model-spec §B.4): projections here, the recurrence in the backend.
    void linear_attention(const LinearAttention& A, std::span<const SequenceRows> seqs, int64_t l, Act x, Act out) const {
        const int64_t n = x.rows, nv = c_.lin_v_heads, vd = value_dim(), cd = conv_dim();
        Backend& be = *be_;
        Backend::Frame frame(be);
        Act mixed = be.act(n, cd), z = be.act(n, vd), b = be.act(n, nv), a = be.act(n, nv), o = be.act(n, vd);
        if (A.qkvz.data) {
            Act p = be.act(n, A.qkvz.rows);
            be.matmul(A.qkvz, x, p);
            be.gather_cols(p, rg_.mixed, mixed);
            be.gather_cols(p, rg_.z, z);
        } else {
            be.matmul(A.qkv, x, mixed);
            be.matmul(A.z, x, z);
        }
        if (A.ba.data) {
            Act p = be.act(n, 2 * nv);
            be.matmul(A.ba, x, p);
            be.gather_cols(p, rg_.beta, b);
            be.gather_cols(p, rg_.alpha, a);
        } else {
            be.matmul(A.beta, x, b);
            be.matmul(A.alpha, x, a);
        }
        for (const SequenceRows& s : seqs)
            be.deltanet(A.params, s.layer_state(l), mixed.rows_from(s.row0, s.n), a.rows_from(s.row0, s.n),
                        b.rows_from(s.row0, s.n), o.rows_from(s.row0, s.n));
        be.gated_rms_norm(o, z, A.norm, c_.rms_eps, o);
        be.matmul(A.out, o, out);
    }

    // out += sigmoid(x · w_gate) · SwiGLU_shared(x)  (model-spec §B.7)
    void shared_expert(const Layer& L, Act x, Act out) const {
        Backend& be = *be_;
        Backend::Frame frame(be);
        Act y = be.act(x.rows, x.cols), gate = be.act(x.rows, 1);
        be.swiglu(L.shared_gate, L.shared_up, L.shared_down, x, y);
        be.matmul(L.shared_router, x, gate);
        be.add_gated(out, y, gate);
    }

    ModelConfig c_;
    Conventions conventions_;
    std::shared_ptr<Backend> be_;
    DenseWeights weights_;
    ExpertSource& experts_;
    MoeRouting routing_;
    KvCacheType cache_type_ = KvCacheType::F32;
    Regrouping rg_;
    TokenIo io_;
    std::vector<Layer> layers_;
};

}  // namespace

std::unique_ptr<Model> load_qwen35moe(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options) {
    return std::make_unique<Qwen35Moe>(desc, experts, options);
}

}  // namespace sluice
