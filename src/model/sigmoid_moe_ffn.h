// The feed-forward half of GLM-4.5's and DeepSeek-V3's decoder layers: a dense SwiGLU in the
// first layers (first_k_dense_replace), then routed experts under sigmoid gating with a
// correction bias and group-limited top-k (model/blocks.h: MoeRouting), plus shared experts.
#pragma once
#include <string>
#include <vector>

#include "model/blocks.h"
#include "model/weights.h"

namespace sluice {

class SigmoidMoeFfn {
public:
    // Layer l's weights: `norm_name` is its pre-FFN norm's suffix (the files differ).
    SigmoidMoeFfn(DenseWeights& weights, const ModelConfig& c, const MoeRouting& routing, int64_t l,
                  const std::string& norm_name);
    // routing_ points into score_bias_: moves keep the vector's buffer, copies would not.
    SigmoidMoeFfn(const SigmoidMoeFfn&) = delete;
    SigmoidMoeFfn(SigmoidMoeFfn&&) noexcept = default;

    // h += FFN(rms_norm(h)), x being scratch [n, H] for the normed input. `next` is the layer
    // after this one (null at the last): at decode its experts are predicted and read early.
    void run(Backend& be, ExpertSource& experts, float eps, Act h, Act x, const SigmoidMoeFfn* next) const;

private:
    int64_t layer_;
    bool dense_;
    Vec norm_;
    Weight gate_, up_, down_;            // the dense FFN, or the shared experts
    bool shared_ = false;
    Weight router_;
    std::vector<float> score_bias_;      // host: routing reads it there
    MoeRouting routing_;
};

}  // namespace sluice
