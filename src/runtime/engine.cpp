#include "runtime/engine.h"

#include <algorithm>

#include "util/thread_pool.h"

namespace sluice {

Engine::Engine(const EngineOptions& options) : options_(options), desc_(ModelDesc::open(options.model_path)) {
    ThreadPool::set_default_threads(options.threads);
    experts_ = std::make_unique<MappedExperts>(desc_);
    ModelOptions mo;
    mo.experts_per_token = options.experts_per_token;
    model_ = load_model(desc_, *experts_, mo);
    const int64_t model_ctx = desc_.config.context_length > 0 ? desc_.config.context_length : 4096;
    context_ = options.context > 0 ? std::min(options.context, model_ctx) : std::min<int64_t>(model_ctx, 4096);
}

Engine::~Engine() = default;

}  // namespace sluice
