// Opens a model for inference: its description, where experts come from, the model itself.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "format/model_desc.h"
#include "model/model.h"
#include "runtime/routing_recorder.h"
#include "store/replacement_policy.h"

namespace sluice {

struct EngineOptions {
    std::string model_path;
    uint64_t mem_budget = 0;          // 0: no budget, experts used from the mapped file
    int64_t experts_per_token = 0;    // 0: the model's K
    int64_t context = 0;              // 0: min(model's context, 4096)
    int threads = 0;                  // 0: all cores
    int64_t prefill_batch = 0;        // prompt tokens per forward call (1: token by token; 0: planned)
    int64_t sequences = 1;            // states the budget reserves (the server's --parallel)
    bool prompt_cache = false;        // and a checkpoint of each one's recurrent layers (the server's prompt cache)
    bool all_logits = false;          // logits of every prompt row (eval, perplexity), not each sequence's last
    bool uniform_routing = false;     // benchmarks: see MoeRouting::uniform
    bool prefetch = true;             // under a budget, read router-predicted experts early
    CachePolicy cache_policy = CachePolicy::LfuDecay;   // under a budget, which cached expert to evict
    bool record_routing = false;      // count which experts each layer asks for (routing())
    // Without a budget, when the model fits in the memory available: interleave its Q4_K and Q6_K
    // weights for decode (kernels/repack.h), the experts copied at load. Under a budget weights
    // keep the file's layout (see engine.cpp).
    bool repack = true;
    int gpu = -1;                     // >= 0: the whole model on this CUDA device (CUDA builds)
    // What attention's K and V are stored in; unset: f16 (on the CPU and the GPU alike).
    std::optional<KvCacheType> cache_type;
    KvCacheType resolved_cache_type() const { return cache_type.value_or(KvCacheType::F16); }
};

class Engine {
public:
    explicit Engine(const EngineOptions& options);
    ~Engine();

    const ModelDesc& desc() const { return desc_; }
    Model& model() { return *model_; }
    // The source the model reads experts through (the recorder when routing is recorded).
    ExpertSource& experts() { return recorder_ ? *recorder_ : *experts_; }
    // Routing since the experts' last reset_stats(); null unless options.record_routing.
    const RoutingStats* routing() const { return recorder_ ? &recorder_->routing() : nullptr; }
    const EngineOptions& options() const { return options_; }
    int64_t context() const { return context_; }
    // Prompt tokens per forward call: options.prefill_batch, or under a budget the planner's
    // choice (plan_memory), else kDefaultUbatch.
    int64_t prefill_batch() const { return prefill_batch_; }

private:
    void open_on_gpu();

    EngineOptions options_;
    ModelDesc desc_;
    std::unique_ptr<ExpertSource> experts_;
    std::unique_ptr<RoutingRecorder> recorder_;
    std::unique_ptr<Model> model_;
    int64_t context_ = 0;
    int64_t prefill_batch_ = 0;
};

}  // namespace sluice
