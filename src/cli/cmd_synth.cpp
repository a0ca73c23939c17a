// sluice synth: a random-weight GGUF with a released model's geometry, for benchmarks.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "format/synth.h"
#include "format/tokenizer_meta.h"
#include "util/error.h"
#include "util/size.h"

namespace sluice::cli {

void register_synth(CLI::App& app) {
    struct Args {
        std::string geometry, type = "q4_k", expert_type, out;
        int64_t layers = 0;
        uint64_t seed = 1;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("synth", "Write a random-weight GGUF with a real model's geometry");
    cmd->add_option("--geometry", args->geometry,
                    "qwen3-30b-a3b, qwen3.5-35b-a3b, qwen3-235b-a22b, qwen3.5-397b-a17b, gpt-oss-120b, glm-4.6, "
                    "deepseek-v3, kimi-k2, or a config.json")
        ->required();
    cmd->add_option("--type", args->type,
                    "Type of the 2-D weights, or a mix: q4_k_m (llama.cpp's Q4_K_M), iq2_mix (experts IQ2_XXS, "
                    "ffn_down_exps Q2_K, the rest as q4_k_m)")
        ->capture_default_str();
    cmd->add_option("--expert-type", args->expert_type, "Type of the routed experts (default: by --type)");
    cmd->add_option("-o,--output", args->out, "Output .gguf")->required();
    cmd->add_option("--layers", args->layers, "Keep only the first N layers");
    cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str();
    cmd->callback([args] {
        SynthOptions options;
        auto t = parse_type_spec(args->type);
        if (!t) fail("--type: unknown type '{}' (a type name, q4_k_m or iq2_mix)", args->type);
        options.type = *t;
        if (!args->expert_type.empty()) {
            auto e = type_from_name(args->expert_type);
            if (!e) fail("--expert-type: unknown type '{}'", args->expert_type);
            options.expert_type = *e;
        }
        options.layers = args->layers;
        options.seed = args->seed;
        ModelConfig geometry = synth_geometry(args->geometry);
        const int64_t vocab = geometry.vocab_size;
        options.extra_metadata = [vocab](GgufWriter& w) { write_synthetic_tokenizer_metadata(w, vocab); };
        const bool tty = isatty(STDERR_FILENO);
        auto t0 = std::chrono::steady_clock::now();
        int last = -1;
        write_synthetic_gguf(geometry, args->out, options, [&](uint64_t done, uint64_t total) {
            int pct = total ? int(done * 100 / total) : 100;
            if (tty && pct != last) {
                double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                std::fprintf(stderr, "\r%s: %3d%% of %s, %.2f GB/s   ", args->out.c_str(), pct, format_size(total).c_str(),
                             double(done) / 1e9 / std::max(s, 1e-9));
            }
            last = pct;
        });
        if (tty) std::fprintf(stderr, "\n");
    });
}

}  // namespace sluice::cli
