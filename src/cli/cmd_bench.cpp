// sluice bench: prefill N random tokens, then N decode steps fed random ids (as llama-bench
// does, so routing is not collapsed by a repeating greedy output), and report speed and I/O;
// with --depth, after a context of that many random tokens (untimed).
#include <algorithm>
#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "runtime/planner.h"
#include "runtime/report.h"
#include "util/error.h"
#include "util/size.h"

namespace sluice::cli {

void register_bench(CLI::App& app) {
    struct Args {
        EngineOptions engine;
        std::string mem;
        int64_t prefill = 64, decode = 32, depth = 0;
        uint64_t seed = 1;
        std::string routing = "router";
        bool json = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed on random tokens");
    cmd->add_option("-m,--model", args->engine.model_path, "GGUF file or Hugging Face folder")->required();
    cmd->add_option("--mem", args->mem, "Memory budget (e.g. 8G)");
    cmd->add_option("-p,--prefill", args->prefill, "Prompt tokens")->capture_default_str();
    cmd->add_option("-n,--decode", args->decode, "Decode steps")->capture_default_str();
    cmd->add_option("-d,--depth", args->depth,
                    "Context tokens (random ids) run before the measured prefill and decode, untimed, as llama-bench's -d")
        ->capture_default_str();
    cmd->add_option("--seed", args->seed, "Seed of the random token ids")->capture_default_str();
    cmd->add_option("--experts-per-token", args->engine.experts_per_token, "Override the model's K");
    add_engine_flags(cmd, args->engine);
    cmd->add_option("-t,--threads", args->engine.threads, "Threads (default: all cores)");
    add_gpu_option(cmd, args->engine);
    add_ubatch_option(cmd, args->engine.prefill_batch);
    cmd->add_option("--routing", args->routing,
                    "router: the model's own; uniform: K experts drawn uniformly per token (what a trained "
                    "model's spread routing costs, on a random-weight model whose router picks a few experts)")
        ->check(CLI::IsMember({"router", "uniform"}))
        ->capture_default_str();
    cmd->add_flag("--json", args->json, "Print one JSON object on stdout");
    cmd->callback([args] {
        if (args->prefill < 1 || args->decode < 1) fail("-p and -n must be at least 1");
        if (args->depth < 0) fail("--depth must be at least 0, got {}", args->depth);
        if (!args->mem.empty()) args->engine.mem_budget = parse_size(args->mem);
        args->engine.context = args->depth + args->prefill + args->decode + 1;
        args->engine.uniform_routing = args->routing == "uniform";
        args->engine.record_routing = true;
        Engine engine(args->engine);
        Session session(engine);
        std::mt19937_64 rng(args->seed);
        std::uniform_int_distribution<int32_t> token(0, int32_t(engine.model().config().vocab_size - 1));
        std::vector<int32_t> prompt(static_cast<size_t>(args->prefill));
        for (auto& t : prompt) t = token(rng);

        if (args->depth > 0) {
            std::vector<int32_t> context(static_cast<size_t>(args->depth));
            for (auto& t : context) t = token(rng);
            session.feed(context);
            session.reset_stats();
        }
        engine.experts().reset_stats();
        session.feed(prompt);
        ExpertSourceStats prefill_io = engine.experts().stats();
        engine.experts().reset_stats();
        for (int64_t i = 0; i < args->decode; ++i) {
            int32_t t = token(rng);
            session.feed(std::span<const int32_t>(&t, 1));
        }
        RunReport r = make_report(session);
        r.depth = args->depth;
        r.context_tokens = session.n_past();
        r.prefill_io = prefill_io;
        r.decode_io = engine.experts().stats();
        r.decode_layer_hit_rates = engine.experts().layer_hit_rates();
        if (const RoutingStats* routing = engine.routing()) r.routing = routing->summary();   // none with --gpu
        r.routing_unit = "decode, one call per token";
        const Bandwidth bw = measured_bandwidth(args->engine.model_path, false, expert_read_bytes(engine.desc()));
        MemoryPlan plan = plan_memory(engine.desc(), args->engine.mem_budget, engine.context(),
                                      args->engine.resolved_cache_type(), args->engine.experts_per_token, bw,
                                      engine.prefill_batch());
        r.expert_bytes_per_token = plan.expert_bytes_per_token;
        r.ubatch = engine.prefill_batch();
        r.predicted_prefill_tok_s = plan.predicted_prefill_tok_s;
        r.predicted_decode_tok_s = plan.predicted_tok_s;
        r.roofline_at_measured_reads_tok_s = roofline_tok_s(plan, bw, 1.0 - std::min(1.0, r.decode_read_share()));
        if (args->json) std::printf("%s\n", r.json().c_str());
        else std::printf("%s", r.text().c_str());
    });
}

}  // namespace sluice::cli
