// sluice serve: the OpenAI-compatible HTTP server (src/server) over one model, with continuous
// batching of up to --parallel sequences. SIGINT/SIGTERM stop it cleanly: no new connections,
// running streams end with an error event, exit status 0.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <pthread.h>
#include <thread>

#include "cli/commands.h"
#include "runtime/model_tokenizer.h"
#include "server/api_server.h"
#include "util/error.h"
#include "util/size.h"

namespace sluice::cli {

void register_serve(CLI::App& app) {
    struct Args {
        EngineOptions engine;
        server::ServerOptions server;
        std::string mem, alias, routing = "router";
        int64_t parallel = 4, queue = 64;
        int64_t max_body_mib = 4;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API");
    cmd->add_option("-m,--model", args->engine.model_path, "GGUF file or Hugging Face folder")->required();
    cmd->add_option("--host", args->server.host, "Address to listen on (loopback by default)")->capture_default_str();
    cmd->add_option("--port", args->server.port, "Port (0: any free port, printed at start)")->capture_default_str()->check(CLI::Range(0, 65535));
    cmd->add_option("--mem", args->mem, "Memory budget for everything, the N sequences' state included, e.g. 8G");
    cmd->add_option("--parallel", args->parallel, "Sequences generated together, each with its own state")
        ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(256)));
    cmd->add_option("--queue", args->queue, "Requests that may wait for a sequence; more get 503 with Retry-After")
        ->capture_default_str()->check(CLI::Range(int64_t(0), int64_t(4096)));
    cmd->add_option("-c,--ctx", args->engine.context, "Context of each sequence (default: min(model, 4096))");
    cmd->add_option("--ubatch", args->engine.prefill_batch, "Most prompt tokens one step runs (prompts are run in chunks of this; default: the planner's)")
        ->check(CLI::Range(int64_t(1), int64_t(65536)));
    cmd->add_option("--api-key", args->server.api_key, "Require Authorization: Bearer KEY (all but /health)");
    cmd->add_option("--alias", args->alias, "Model name in /v1/models and requests (default: the file name)");
    cmd->add_option("--max-body", args->max_body_mib, "Largest request body in MiB (413 above)")
        ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(1024)));
    cmd->add_option("--experts-per-token", args->engine.experts_per_token, "Override the model's K (renormalised)");
    cmd->add_option("-t,--threads", args->engine.threads, "Threads (default: all cores)");
    cmd->add_option("--routing", args->routing,
                    "router: the model's; uniform: K experts drawn uniformly per token (benchmarks: what a trained "
                    "model's spread routing costs, on a random-weight model whose router picks a few experts)")
        ->capture_default_str()
        ->check(CLI::IsMember({"router", "uniform"}));
    add_engine_flags(cmd, args->engine);
    add_gpu_option(cmd, args->engine);
    cmd->callback([args] {
        // SIGINT and SIGTERM go to one thread that shuts the server down: blocked here, before
        // any thread starts, so that every thread inherits the mask.
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGINT);
        sigaddset(&stop_signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
        std::signal(SIGPIPE, SIG_IGN);   // a client gone mid-write is an error return, not death

        if (!args->mem.empty()) args->engine.mem_budget = parse_size(args->mem);
        args->engine.sequences = args->parallel;
        args->engine.prompt_cache = true;
        args->engine.uniform_routing = args->routing == "uniform";
        auto tok = load_tokenizer(args->engine.model_path);
        Engine engine(args->engine);
        server::SchedulerOptions so;
        so.parallel = args->parallel;
        so.context = engine.context();
        so.prompt_chunk = engine.prefill_batch();
        so.queue_limit = args->queue;
        server::Scheduler scheduler(engine.model(), engine.experts(), [&tok](int32_t id) { return tok->is_stop(id); }, so);
        args->server.model_id = args->alias.empty() ? std::filesystem::path(args->engine.model_path).filename().string() : args->alias;
        args->server.max_body_bytes = size_t(args->max_body_mib) << 20;
        server::ApiServer api(*tok, scheduler, args->server);
        const int port = api.bind();
        std::fprintf(stderr, "sluice serve: listening on http://%s:%d (model %s, %lld sequences of %lld tokens)\n",
                     args->server.host.c_str(), port, args->server.model_id.c_str(), (long long)args->parallel,
                     (long long)engine.context());
        std::thread stopper([&api, stop_signals] {
            int sig = 0;
            sigwait(&stop_signals, &sig);
            std::fprintf(stderr, "sluice serve: %s: shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            api.shutdown();
        });
        api.serve();
        stopper.join();
    });
}

}  // namespace sluice::cli
