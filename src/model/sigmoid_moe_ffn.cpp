#include "model/sigmoid_moe_ffn.h"

namespace sluice {

SigmoidMoeFfn::SigmoidMoeFfn(DenseWeights& weights, const ModelConfig& c, const MoeRouting& routing, int64_t l,
                             const std::string& norm_name)
    : layer_(l), dense_(c.is_dense(l)), routing_(routing) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const int64_t H = c.hidden;
    norm_ = weights.vec(p + norm_name, H);
    if (dense_) {
        gate_ = weights.matrix(p + "ffn_gate.weight", c.dense_ffn, H);
        up_ = weights.matrix(p + "ffn_up.weight", c.dense_ffn, H);
        down_ = weights.matrix(p + "ffn_down.weight", H, c.dense_ffn);
        return;
    }
    router_ = weights.matrix(p + "ffn_gate_inp.weight", c.n_experts, H);
    score_bias_ = weights.vector(p + "exp_probs_b.bias", c.n_experts);
    routing_.score_bias = score_bias_;
    shared_ = c.shared_expert_ffn > 0;
    if (shared_) {
        gate_ = weights.matrix(p + "ffn_gate_shexp.weight", c.shared_expert_ffn, H);
        up_ = weights.matrix(p + "ffn_up_shexp.weight", c.shared_expert_ffn, H);
        down_ = weights.matrix(p + "ffn_down_shexp.weight", H, c.shared_expert_ffn);
    }
}

void SigmoidMoeFfn::run(Backend& be, ExpertSource& experts, float eps, Act h, Act x, const SigmoidMoeFfn* next) const {
    be.rms_norm(h, norm_, x, eps);
    Backend::Frame frame(be);
    if (dense_) {
        Act y = be.act(h.rows, h.cols);
        be.swiglu(gate_, up_, down_, x, y);
        be.add(h, y);
        return;
    }
    if (h.rows == 1 && next && !next->dense_ && experts.wants_prefetch())
        be.prefetch_predicted(next->router_, next->norm_, eps, next->routing_, experts, next->layer_, h);
    if (shared_) {
        Act y = be.act(h.rows, h.cols);
        be.swiglu(gate_, up_, down_, x, y);
        be.moe(router_, routing_, experts, layer_, x, h);
        be.add(h, y);
        return;
    }
    be.moe(router_, routing_, experts, layer_, x, h);
}

}  // namespace sluice
