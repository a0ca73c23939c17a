// Subcommands of the `sluice` program, each in its own file. register_* adds the subcommand and
// its options to the app; the callback runs it.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/sampler.h"

namespace sluice::cli {

void register_run(CLI::App& app);
void register_eval(CLI::App& app);
void register_inspect(CLI::App& app);
void register_convert(CLI::App& app);
void register_synth(CLI::App& app);
void register_bench(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_chat(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_serve(CLI::App& app);

// Options of the commands that generate (run, chat): model, length, sampling, memory.
struct GenerationArgs {
    EngineOptions engine;
    SamplerOptions sampler;
    std::string mem;
    int64_t n_predict = 128;
};
void add_generation_options(CLI::App* cmd, GenerationArgs& args);
// Validates them and fills what is derived (the memory budget); throws on bad values.
void check_generation_options(GenerationArgs& args);

// --no-prefetch, --no-repack, --cache-policy and --cache-type, shared by run, chat, bench and
// perplexity.
void add_engine_flags(CLI::App* cmd, EngineOptions& engine);

// --cache-type f32|f16|q8_0 (eval and inspect take it alone).
void add_cache_type_option(CLI::App* cmd, std::optional<KvCacheType>& type);

// --gpu [N]: run the whole model on CUDA device N (0 when no N is given); run, chat, eval, bench, serve.
void add_gpu_option(CLI::App* cmd, EngineOptions& engine);

// --ubatch N: prompt tokens per forward call (left at 0: 256, or under --mem the planner's
// choice); run, chat, bench, perplexity and inspect.
void add_ubatch_option(CLI::App* cmd, int64_t& ubatch);

// "1,2,3" → ids; throws naming the bad entry.
std::vector<int32_t> parse_token_list(const std::string& text);

}  // namespace sluice::cli
