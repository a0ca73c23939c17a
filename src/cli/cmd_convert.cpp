// sluice convert: write a model as a GGUF file in llama.cpp's conventions.
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "format/convert.h"
#include "format/tokenizer_meta.h"
#include "util/error.h"

namespace sluice::cli {

namespace {

struct TypeChoice {
    GgmlType type;
    bool q4_k_m;
};

// A block type, or "q4_k_m": Q4_K with llama.cpp's Q4_K_M mix (see choose_tensor_type).
TypeChoice parse_type(const std::string& name, const char* flag) {
    if (name == "q4_k_m" || name == "Q4_K_M") return {GgmlType::Q4_K, true};
    auto t = type_from_name(name);
    if (!t || !type_info(*t).supported || !can_quantize(*t)) fail("{}: unknown or unsupported type '{}'", flag, name);
    return {*t, false};
}

}  // namespace

void register_convert(CLI::App& app) {
    struct Args {
        std::string in, out, type = "f16", expert_type;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("convert", "Convert a Hugging Face folder or GGUF to a GGUF file");
    cmd->add_option("input", args->in, "Hugging Face folder or GGUF file")->required();
    cmd->add_option("output", args->out, "Output .gguf")->required();
    cmd->add_option("--type", args->type,
                    "Type of the 2-D weights: f32, f16, bf16, q8_0, q6_k, q5_k, q4_k, q4_k_m, q3_k, q2_k, iq4_xs, "
                    "q4_0, q4_1, q5_0, q5_1, iq4_nl")
        ->capture_default_str();
    cmd->add_option("--expert-type", args->expert_type, "Type of the routed experts (default: --type)");
    cmd->callback([args] {
        ModelDesc desc = ModelDesc::open(args->in);
        ConvertOptions options;
        options.extra_metadata = [&desc](GgufWriter& w) { write_tokenizer_metadata(w, desc); };
        const TypeChoice dense = parse_type(args->type, "--type");
        options.type = dense.type;
        options.q4_k_m = dense.q4_k_m;
        if (!args->expert_type.empty()) {
            const TypeChoice experts = parse_type(args->expert_type, "--expert-type");
            options.expert_type = experts.type;
            options.expert_q4_k_m = experts.q4_k_m;
        }
        const bool tty = isatty(STDERR_FILENO);
        int last = -1;
        convert_to_gguf(desc, args->out, options, [&](uint64_t done, uint64_t total) {
            int pct = total ? int(done * 100 / total) : 100;
            if (tty && pct != last) std::fprintf(stderr, "\rwriting %s: %3d%%", args->out.c_str(), pct);
            last = pct;
        });
        if (tty) std::fprintf(stderr, "\n");
    });
}

}  // namespace sluice::cli
