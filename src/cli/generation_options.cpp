#include "cli/commands.h"
#include "util/error.h"
#include "util/size.h"

namespace sluice::cli {

void add_generation_options(CLI::App* cmd, GenerationArgs& a) {
    cmd->add_option("-m,--model", a.engine.model_path, "GGUF file or Hugging Face folder")->required();
    cmd->add_option("-n,--n-predict", a.n_predict, "Tokens to generate (at most)")->capture_default_str();
    cmd->add_option("--temp", a.sampler.temperature, "Temperature (0: greedy)")->capture_default_str();
    cmd->add_option("--top-k", a.sampler.top_k, "Top-k (0: off)")->capture_default_str();
    cmd->add_option("--top-p", a.sampler.top_p, "Top-p (1: off)")->capture_default_str();
    cmd->add_option("--min-p", a.sampler.min_p, "Min-p (0: off)")->capture_default_str();
    cmd->add_option("--repeat-penalty", a.sampler.repeat_penalty, "Repetition penalty (1: off)")->capture_default_str();
    cmd->add_option("--seed", a.sampler.seed, "Sampling seed")->capture_default_str();
    cmd->add_option("--mem", a.mem, "Memory budget, e.g. 12G: experts are streamed from disk into a cache");
    cmd->add_option("--experts-per-token", a.engine.experts_per_token, "Override the model's K (renormalised)");
    add_engine_flags(cmd, a.engine);
    add_gpu_option(cmd, a.engine);
    cmd->add_option("-c,--ctx", a.engine.context, "Context length (default: min(model, 4096))");
    cmd->add_option("-t,--threads", a.engine.threads, "Threads (default: all cores)");
    add_ubatch_option(cmd, a.engine.prefill_batch);
}

void add_ubatch_option(CLI::App* cmd, int64_t& ubatch) {
    cmd->add_option_function<int64_t>(
        "--ubatch",
        [&ubatch](int64_t n) {
            if (n < 1) fail("--ubatch {}: must be at least 1", n);
            ubatch = n;
        },
        "Prompt tokens per forward call (1: token by token; default 256, under --mem the largest whose scratch fits "
        "in 1/8 of the budget)");
}

void add_engine_flags(CLI::App* cmd, EngineOptions& engine) {
    cmd->add_flag("!--no-prefetch", engine.prefetch, "Under --mem, do not read router-predicted experts early");
    cmd->add_flag("!--no-repack", engine.repack,
                  "Keep Q4_K and Q6_K weights in the file's layout (default without --mem, when the model fits in memory: "
                  "interleaved for decode, the experts copied at load)");
    cmd->add_option_function<std::string>(
           "--cache-policy",
           [&engine](const std::string& p) { engine.cache_policy = p == "lru" ? CachePolicy::Lru : CachePolicy::LfuDecay; },
           "Under --mem, which cached expert to evict: lfu (fewest uses, counts decaying; the default) or lru")
        ->check(CLI::IsMember({"lfu", "lru"}));
    add_cache_type_option(cmd, engine.cache_type);
}

void add_cache_type_option(CLI::App* cmd, std::optional<KvCacheType>& type) {
    cmd->add_option_function<std::string>(
           "--cache-type", [&type](const std::string& t) { type = parse_kv_cache_type(t); },
           "KV cache format: f16 (the default), f32 or q8_0 (8-bit blocks, 34/128 of f32)");
}

void add_gpu_option(CLI::App* cmd, EngineOptions& engine) {
    cmd->add_option("--gpu", engine.gpu, "Run the whole model on CUDA device N (default 0): weights, state and experts in VRAM")
        ->expected(0, 1)
        ->default_str("0");
}

void check_generation_options(GenerationArgs& a) {
    if (a.n_predict < 0) fail("-n must not be negative");
    if (!a.mem.empty()) a.engine.mem_budget = parse_size(a.mem);
}

}  // namespace sluice::cli
