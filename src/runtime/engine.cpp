#include "runtime/engine.h"

#include <algorithm>
#include <cstdio>

#include "model/streaming_experts.h"
#include "runtime/planner.h"
#include "runtime/repack_fit.h"
#include "util/memory_usage.h"
#include "util/error.h"
#include "util/size.h"
#include "util/thread_pool.h"
#ifdef SLUICE_WITH_CUDA
#include "gpu/cuda_backend.h"
#include "gpu/cuda_experts.h"
#endif

namespace sluice {

Engine::Engine(const EngineOptions& options) : options_(options), desc_(ModelDesc::open(options.model_path)) {
    ThreadPool::set_default_threads(options.threads);
    const int64_t model_ctx = desc_.config.context_length > 0 ? desc_.config.context_length : 4096;
    context_ = options.context > 0 ? std::min(options.context, model_ctx) : std::min<int64_t>(model_ctx, 4096);
    prefill_batch_ = options.prefill_batch > 0 ? options.prefill_batch : kDefaultUbatch;
    // Interleaved Q4_K / Q6_K (kernels/repack.h) only for a model kept whole in memory: measured on the
    // Zen 4 VM, it speeds up decode when the experts are interleaved too (copied at load), and
    // under a budget — dense weights alone, or experts repacked as they are read — it cost
    // 10-40% (bench/RESULTS.md). Copies must not push the mapped model out of memory (repack_fit.h).
    if (options.gpu >= 0) {
        open_on_gpu();
        return;
    }
    bool repack = false;
    if (options.repack && options.mem_budget == 0) {
        const RepackDecision decision = decide_repack(repacked_footprint(desc_), available_memory_bytes());
        if (!decision.notice.empty()) std::fprintf(stderr, "%s\n", decision.notice.c_str());
        repack = decision.repack;
    }
    if (options.mem_budget > 0) {
        MemoryPlan plan = plan_memory(desc_, options.mem_budget, context_, options.resolved_cache_type(),
                                      options.experts_per_token, {}, options.prefill_batch, options.sequences,
                                      options.prompt_cache, options.all_logits);
        prefill_batch_ = plan.ubatch;
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
    mo.cache_type = options.resolved_cache_type();
    model_ = load_model(desc_, experts(), mo);
}

// The whole model in VRAM (issue 13, part 1): dense weights, state and every expert.
void Engine::open_on_gpu() {
#ifdef SLUICE_WITH_CUDA
    if (options_.mem_budget > 0)
        fail("--mem with --gpu: the GPU path keeps the whole model in VRAM; budgets across VRAM, RAM and disk are not "
             "implemented yet");
    const CudaBackendInfo gpu = cuda_device_info(options_.gpu);
    const uint64_t needed = desc_.dense_bytes() + CudaExperts::bytes_needed(desc_);
    if (needed > gpu.free_bytes)
        fail("--gpu {}: the model needs {} of VRAM for its weights alone (dense {}, experts {}); {} has {} free of {}",
             options_.gpu, format_size(needed), format_size(desc_.dense_bytes()),
             format_size(CudaExperts::bytes_needed(desc_)), gpu.name, format_size(gpu.free_bytes),
             format_size(gpu.total_bytes));
    ModelOptions mo;
    mo.experts_per_token = options_.experts_per_token;
    mo.uniform_routing = options_.uniform_routing;
    mo.repack = false;   // the GPU reads the file's layout
    mo.cache_type = options_.resolved_cache_type();
    mo.backend = make_cuda_backend(options_.gpu);
    experts_ = std::make_unique<CudaExperts>(desc_);
    model_ = load_model(desc_, *experts_, mo);
#else
    fail("--gpu: this sluice was built without CUDA (configure with -DSLUICE_CUDA=ON where nvcc is installed)");
#endif
}

Engine::~Engine() = default;

}  // namespace sluice
