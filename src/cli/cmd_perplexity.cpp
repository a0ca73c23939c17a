// sluice perplexity: the perplexity of a model on a text, chunked and scored as llama.cpp's
// perplexity tool does (runtime/perplexity.h), so the figures compare; optionally saves the
// scored log-probabilities or compares the run with saved ones (KL divergence, top-1 agreement).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <unistd.h>

#include "cli/commands.h"
#include "runtime/model_tokenizer.h"
#include "runtime/perplexity.h"
#include "runtime/report.h"
#include "util/error.h"
#include "util/size.h"

namespace sluice::cli {

namespace {

struct Args {
    EngineOptions engine;
    std::string text_file, mem, save_logits, kl_base;
    int64_t ctx = 512, chunks = 0;
    bool stats = false;
};

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("{}: cannot open the text file", path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// A bar on stderr, redrawn in place after each chunk; only on a terminal.
class ProgressBar {
public:
    explicit ProgressBar(int64_t total) : total_(total), on_(isatty(fileno(stderr))), t0_(Clock::now()) {}
    void clear() const {
        if (on_) std::fprintf(stderr, "\r\033[K");
    }
    void draw(int64_t done) const {
        if (!on_) return;
        constexpr int kWidth = 30;
        const int filled = int(kWidth * done / total_);
        const double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
        const double left = done > 0 ? elapsed / double(done) * double(total_ - done) : 0;
        std::fprintf(stderr, "\r\033[K[%s%s] %lld/%lld chunks, %.0f s left", std::string(size_t(filled), '#').c_str(),
                     std::string(size_t(kWidth - filled), ' ').c_str(), (long long)done, (long long)total_, left);
        std::fflush(stderr);
    }

private:
    using Clock = std::chrono::steady_clock;
    int64_t total_;
    bool on_;
    Clock::time_point t0_;
};

void print_result(const PerplexityResult& r) {
    if (r.kl) {
        std::printf("base PPL: %.4f +/- %.5f\n", r.kl->base.ppl(), r.kl->base.ppl_error());
        std::printf("mean KL divergence (base || this): %.6f +/- %.6f\n", r.kl->mean(), r.kl->mean_error());
        std::printf("top-1 agreement: %.3f%%\n", 100.0 * r.kl->top1_agreement());
    }
    std::printf("PPL = %.4f +/- %.5f\n", r.nll.ppl(), r.nll.ppl_error());
}

}  // namespace

void register_perplexity(CLI::App& app) {
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("perplexity", "Perplexity of the model on a text (llama.cpp's chunking)");
    cmd->add_option("-m,--model", args->engine.model_path, "GGUF file or Hugging Face folder")->required();
    cmd->add_option("-f,--text-file", args->text_file, "The text, tokenized whole")->required();
    cmd->add_option("-c,--ctx", args->ctx, "Tokens per chunk; the second half of each is scored")->capture_default_str();
    cmd->add_option("--chunks", args->chunks, "Score at most this many chunks (0: all)")->capture_default_str();
    cmd->add_option("--experts-per-token", args->engine.experts_per_token, "Override the model's K (renormalised)");
    cmd->add_option("--mem", args->mem, "Memory budget, e.g. 12G: experts are streamed from disk into a cache");
    add_engine_flags(cmd, args->engine);
    cmd->add_option("-t,--threads", args->engine.threads, "Threads (default: all cores)");
    add_ubatch_option(cmd, args->engine.prefill_batch);
    cmd->add_option("--save-logits", args->save_logits, "Save the scored log-probabilities, a base for --kl-base");
    cmd->add_option("--kl-base", args->kl_base,
                    "Compare with a run saved by --save-logits: KL divergence (base || this), top-1 agreement, both PPLs");
    cmd->add_flag("--stats", args->stats, "Print speed, I/O, memory and routing statistics to stderr");
    cmd->callback([args] {
        if (args->ctx < 8) fail("--ctx {}: perplexity needs a context of at least 8 tokens", args->ctx);
        if (args->chunks < 0) fail("--chunks {}: must not be negative", args->chunks);
        if (!args->mem.empty()) args->engine.mem_budget = parse_size(args->mem);
        const std::string text = read_text(args->text_file);
        const auto tok = load_tokenizer(args->engine.model_path);
        std::vector<int32_t> tokens;
        try {
            tokens = tok->encode_prompt(text);
        } catch (const Error& e) {
            fail("{}: {}", args->text_file, e.what());
        }
        PerplexityPlan plan;
        try {
            plan = plan_perplexity(int64_t(tokens.size()), args->ctx, args->chunks);
        } catch (const Error& e) {
            fail("{}: {}", args->text_file, e.what());
        }
        if (tok->adds_bos()) plan.bos = tok->bos();
        std::unique_ptr<LogProbReader> base;
        if (!args->kl_base.empty()) base = std::make_unique<LogProbReader>(args->kl_base);

        args->engine.context = plan.ctx;
        args->engine.record_routing = args->stats;
        args->engine.all_logits = true;
        Engine engine(args->engine);
        if (engine.context() < plan.ctx)
            fail("--ctx {}: the model's context is {} tokens", plan.ctx, engine.context());
        Session session(engine);
        std::unique_ptr<LogProbWriter> save;
        if (!args->save_logits.empty()) {
            LogProbHeader h;
            h.vocab = session.vocab_size();
            h.ctx = plan.ctx;
            h.chunks = plan.chunks;
            h.tokens.assign(tokens.begin(), tokens.begin() + plan.tokens());
            save = std::make_unique<LogProbWriter>(args->save_logits, h);
        }
        std::printf("%zu tokens; %lld chunks of %lld, %lld tokens scored in each\n", tokens.size(),
                    (long long)plan.chunks, (long long)plan.ctx, (long long)plan.scored_per_chunk());
        std::fflush(stdout);

        ProgressBar bar(plan.chunks);
        bar.draw(0);
        PerplexityHooks hooks;
        hooks.save = save.get();
        hooks.base = base.get();
        hooks.on_chunk = [&](int64_t chunk, const PerplexityResult& r) {
            bar.clear();
            std::string line = fmt::format("[{}/{}] estimate {:.4f} +/- {:.5f}", chunk + 1, plan.chunks, r.nll.ppl(),
                                           r.nll.ppl_error());
            if (r.kl) line += fmt::format(", KL {:.6f}, top-1 {:.2f}%", r.kl->mean(), 100.0 * r.kl->top1_agreement());
            std::printf("%s\n", line.c_str());
            std::fflush(stdout);
            bar.draw(chunk + 1);
        };
        const PerplexityResult result = score_perplexity(session, tokens, plan, hooks);
        bar.clear();
        print_result(result);
        if (args->stats) {
            RunReport r = make_report(session);
            r.prefill_io = engine.experts().stats();
            if (const RoutingStats* routing = engine.routing()) r.routing = routing->summary();   // none with --gpu
            r.routing_unit = engine.prefill_batch() == 1
                                 ? "one call per token"
                                 : fmt::format("one call per forward batch of up to {} tokens, the union of their "
                                               "experts; --ubatch 1 counts per token",
                                               std::min(engine.prefill_batch(), plan.ctx));
            std::fprintf(stderr, "%s", r.text().c_str());
        }
    });
}

}  // namespace sluice::cli
