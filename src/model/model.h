// A loaded model: the resident dense weights of one architecture, run over a per-sequence state.
#pragma once
#include <cstdint>
#include <memory>
#include <span>

#include <vector>

#include "format/model_desc.h"
#include "model/backend.h"
#include "model/expert_source.h"

namespace sluice {

// Everything a sequence carries between calls: each layer's KV cache or recurrent state, in the
// model's backend, and the position.
class ModelState {
public:
    int64_t n_past = 0;     // tokens already processed
    int64_t capacity = 0;   // most tokens this state can hold
    std::vector<std::unique_ptr<LayerState>> layers;   // one per layer, of the layer's kind

    void reset() {
        n_past = 0;
        for (auto& l : layers) l->reset();
    }
    uint64_t bytes() const {
        uint64_t b = 0;
        for (const auto& l : layers) b += l->bytes();
        return b;
    }
};

struct ModelOptions {
    int64_t experts_per_token = 0;   // 0: the model's own K
    bool uniform_routing = false;    // benchmarks: see MoeRouting::uniform
    bool own_dense = false;          // read dense weights into owned memory instead of mapping them
    bool repack = true;              // interleave Q4_K and Q6_K matrices for decode (kernels/repack.h)
    KvCacheType cache_type = KvCacheType::F16;   // what attention layers' K and V are stored in
    std::shared_ptr<Backend> backend;   // where the forward runs; null: a CPU backend of its own
};

// One sequence's part of a batched forward: its tokens run at positions state.n_past.., and
// logits for every position [n, vocab] when all_logits, else for the last one only [vocab].
struct SequenceStep {
    ModelState* state = nullptr;
    std::span<const int32_t> tokens;
    float* logits = nullptr;
    bool all_logits = false;
};

class Model {
public:
    virtual ~Model() = default;
    virtual const ModelConfig& config() const = 0;
    virtual std::unique_ptr<ModelState> new_state(int64_t capacity) const = 0;

    // Runs several sequences (distinct states) as one forward and advances each state: the
    // products run over every sequence's rows at once, so the MoE fetches each expert once for
    // all of them (DESIGN.md §10); attention and recurrent state stay per sequence.
    virtual void forward_batch(std::span<const SequenceStep> steps) = 0;

    // One sequence: tokens[0..n) (see SequenceStep).
    void forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_logits) {
        const SequenceStep step{&state, {tokens, size_t(n)}, logits, all_logits};
        forward_batch({&step, 1});
    }

    // Bytes of the resident dense weights and of one state of `capacity` tokens, for the planner.
    virtual uint64_t dense_bytes() const = 0;
};

// Builds the model for desc's architecture; experts come from `experts` (which must outlive it).
std::unique_ptr<Model> load_model(const ModelDesc& desc, ExpertSource& experts, const ModelOptions& options = {});

}  // namespace sluice
