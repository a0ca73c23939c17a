// sluice run: generate from a prompt given as token ids (or text, with the model's tokenizer).
#include <cstdio>

#include "cli/commands.h"
#include "runtime/report.h"
#include "runtime/session.h"
#include "util/error.h"
#include "util/size.h"

namespace sluice::cli {

void register_run(CLI::App& app) {
    struct Args {
        EngineOptions engine;
        SamplerOptions sampler;
        std::string tokens, mem;
        int64_t n_predict = 128;
        bool print_ids = false, stats = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("run", "Generate a continuation of a prompt");
    cmd->add_option("-m,--model", args->engine.model_path, "GGUF file or Hugging Face folder")->required();
    cmd->add_option("--tokens", args->tokens, "Prompt token ids, comma-separated")->required();
    cmd->add_option("-n,--n-predict", args->n_predict, "Tokens to generate")->capture_default_str();
    cmd->add_option("--temp", args->sampler.temperature, "Temperature (0: greedy)")->capture_default_str();
    cmd->add_option("--top-k", args->sampler.top_k, "Top-k (0: off)")->capture_default_str();
    cmd->add_option("--top-p", args->sampler.top_p, "Top-p (1: off)")->capture_default_str();
    cmd->add_option("--min-p", args->sampler.min_p, "Min-p (0: off)")->capture_default_str();
    cmd->add_option("--repeat-penalty", args->sampler.repeat_penalty, "Repetition penalty (1: off)")->capture_default_str();
    cmd->add_option("--seed", args->sampler.seed, "Sampling seed")->capture_default_str();
    cmd->add_option("--mem", args->mem, "Memory budget, e.g. 12G: experts are streamed from disk into a cache");
    cmd->add_option("--experts-per-token", args->engine.experts_per_token, "Override the model's K (renormalised)");
    cmd->add_option("-c,--ctx", args->engine.context, "Context length (default: min(model, 4096))");
    cmd->add_option("-t,--threads", args->engine.threads, "Threads (default: all cores)");
    cmd->add_flag("--ids", args->print_ids, "Print the generated token ids on one line");
    cmd->add_flag("--stats", args->stats, "Print speed and memory statistics to stderr");
    cmd->callback([args] {
        if (args->n_predict < 0) fail("-n must not be negative");
        auto prompt = parse_token_list(args->tokens);
        if (!args->mem.empty()) args->engine.mem_budget = parse_size(args->mem);
        Engine engine(args->engine);
        Session session(engine);
        session.feed(prompt);
        ExpertSourceStats prefill_io = engine.experts().stats();
        engine.experts().reset_stats();
        Sampler sampler(args->sampler);
        auto out = session.generate(args->n_predict, sampler);
        std::string line;
        for (size_t i = 0; i < out.size(); ++i) line += (i ? " " : "") + std::to_string(out[i]);
        std::printf("%s\n", line.c_str());
        if (args->stats) {
            RunReport r = make_report(session);
            r.prefill_io = prefill_io;
            r.decode_io = engine.experts().stats();
            r.decode_layer_hit_rates = engine.experts().layer_hit_rates();
            std::fprintf(stderr, "%s", r.text().c_str());
        }
    });
}

}  // namespace sluice::cli
