// sluice eval: logits of every prompt position, float32 little-endian [T, vocab].
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/commands.h"
#include "runtime/session.h"
#include "util/error.h"

namespace sluice::cli {

void register_eval(CLI::App& app) {
    struct Args {
        EngineOptions engine;
        std::string tokens, out;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("eval", "Write the logits of every prompt position to a file");
    cmd->add_option("-m,--model", args->engine.model_path, "GGUF file or Hugging Face folder")->required();
    cmd->add_option("--tokens", args->tokens, "Prompt token ids, comma-separated")->required();
    cmd->add_option("--logits-out", args->out, "Output file: float32 [T, vocab], row-major")->required();
    cmd->add_option("--experts-per-token", args->engine.experts_per_token, "Override the model's K");
    cmd->add_option("-t,--threads", args->engine.threads, "Threads (default: all cores)");
    add_gpu_option(cmd, args->engine);
    add_cache_type_option(cmd, args->engine.cache_type);
    cmd->callback([args] {
        auto ids = parse_token_list(args->tokens);
        args->engine.context = int64_t(ids.size());
        args->engine.all_logits = true;
        Engine engine(args->engine);
        Session session(engine);
        auto logits = session.eval_all(ids);
        FILE* f = std::fopen(args->out.c_str(), "wb");
        if (!f) fail("{}: cannot create: {}", args->out, std::strerror(errno));
        size_t written = std::fwrite(logits.data(), sizeof(float), logits.size(), f);
        if (std::fclose(f) != 0 || written != logits.size()) fail("{}: write failed", args->out);
    });
}

}  // namespace sluice::cli
