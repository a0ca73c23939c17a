#include "runtime/engine.h"

#include <algorithm>

#include "model/streaming_experts.h"
#include "runtime/planner.h"
#include "util/memory_usage.h"
#include "util/thread_pool.h"

namespace sluice {

Engine::Engine(const EngineOptions& options) : options_(options), desc_(ModelDesc::open(options.model_path)) {
    ThreadPool::set_default_threads(options.threads);
    const int64_t model_ctx = desc_.config.context_length > 0 ? desc_.config.context_length : 4096;
    context_ = options.context > 0 ? std::min(options.context, model_ctx) : std::min<int64_t>(model_ctx, 4096);
    // Interleaved Q4_K (kernels/repack.h) only for a model kept whole in memory: measured on the
    // Zen 4 VM, it speeds up decode when the experts are interleaved too (copied at load), and
    // under a budget — dense weights alone, or experts repacked as they are read — it cost
    // 10-40% (bench/RESULTS.md). Copies must not push the mapped model out of memory.
    const bool repack = options.repack && options.mem_budget == 0 &&
                        desc_.dense_bytes() + desc_.expert_bytes() < available_memory_bytes() / 10 * 9;
    if (options.mem_budget > 0) {
        MemoryPlan plan = plan_memory(desc_, options.mem_budget, context_, options.experts_per_token, {},
                                      options.prefill_batch);
        StreamingOptions so;
        so.slots = plan.cache_slots;
        so.experts_per_token = options.experts_per_token;
        so.prefetch = options.prefetch;
        so.policy = options.cache_policy;
        experts_ = std::make_unique<StreamingExperts>(desc_, so);
    } else {
        experts_ = std::make_unique<MappedExperts>(desc_, repack);
    }
    if (options.record_routing)
        recorder_ = std::make_unique<RoutingRecorder>(*experts_, desc_.config.n_layers, desc_.config.n_experts);
    ModelOptions mo;
    mo.experts_per_token = options.experts_per_token;
    mo.uniform_routing = options.uniform_routing;
    mo.own_dense = options.mem_budget > 0;
    mo.repack = repack;
    model_ = load_model(desc_, experts(), mo);
}

Engine::~Engine() = default;

}  // namespace sluice
