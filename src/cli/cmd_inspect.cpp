// sluice inspect: architecture, hyper-parameters, tensors with types and sizes, expert bytes.
#include <cstdio>

#include "cli/commands.h"
#include "format/model_desc.h"
#include "runtime/planner.h"
#include "util/size.h"

namespace sluice::cli {

void register_inspect(CLI::App& app) {
    struct Args {
        std::string model, mem;
        int64_t context = 4096, experts_per_token = 0, parallel = 1, ubatch = 0;
        bool probe = false;
        std::optional<KvCacheType> cache_type;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("inspect", "Show a model's architecture, tensors, sizes and memory plan");
    cmd->add_option("-m,--model", args->model, "GGUF file or Hugging Face folder")->required();
    cmd->add_option("--mem", args->mem, "Memory budget to plan for (e.g. 8G)");
    cmd->add_option("-c,--ctx", args->context, "Context length to plan for")->capture_default_str();
    cmd->add_option("--experts-per-token", args->experts_per_token, "Override the model's K");
    auto* parallel = cmd->add_option("--parallel", args->parallel,
                                     "Plan as serve --parallel N does: a state for each sequence, and the prompt cache's checkpoints")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    add_cache_type_option(cmd, args->cache_type);
    add_ubatch_option(cmd, args->ubatch);
    cmd->add_flag("--probe", args->probe, "Measure disk and memory bandwidth and the prefill product rate again");
    cmd->callback([args, parallel] {
        const std::string* path = &args->model;
        ModelDesc d = ModelDesc::open(*path);
        const ModelConfig& c = d.config;
        std::printf("model:        %s\n", path->c_str());
        std::printf("architecture: %s\n", arch_name(c.arch));
        std::printf("layers %lld, hidden %lld, heads %lld/%lld (q/kv), head_dim %lld, rope dims %lld theta %g\n",
                    (long long)c.n_layers, (long long)c.hidden, (long long)c.n_heads, (long long)c.n_kv_heads,
                    (long long)c.head_dim, (long long)c.rope_dim, double(c.rope_theta));
        std::printf("vocab %lld, context %lld, rms eps %g\n", (long long)c.vocab_size, (long long)c.context_length,
                    double(c.rms_eps));
        std::printf("experts %lld, used per token %lld, expert ffn %lld, shared expert ffn %lld\n",
                    (long long)c.n_experts, (long long)c.n_experts_used, (long long)c.expert_ffn,
                    (long long)c.shared_expert_ffn);
        if (c.gating == Gating::Sigmoid)
            std::printf("routing: sigmoid with correction bias, best %lld of %lld groups, routed scale %g; "
                        "%lld leading dense layers of ffn %lld\n",
                        (long long)c.expert_groups_used, (long long)c.expert_groups, double(c.routed_scale),
                        (long long)c.n_dense_layers, (long long)c.dense_ffn);
        if (c.is_mla())
            std::printf("latent attention: q rank %lld, kv rank %lld, key %lld + rope %lld, value %lld per head; "
                        "cache %lld values per token and layer\n",
                        (long long)c.q_lora, (long long)c.kv_lora, (long long)c.qk_nope, (long long)c.rope_dim,
                        (long long)c.v_head_dim, (long long)(c.kv_lora + c.rope_dim));
        if (c.yarn.factor > 0)
            std::printf("YaRN: factor %g over %lld positions, beta %g/%g, attention mscale %g\n", double(c.yarn.factor),
                        (long long)c.yarn.original_context, double(c.yarn.beta_fast), double(c.yarn.beta_slow),
                        double(c.yarn.attn_mscale));
        if (!c.linear_layer.empty()) {
            int64_t lin = 0;
            for (bool b : c.linear_layer) lin += b;
            std::printf("linear attention: %lld of %lld layers; k heads %lld, v heads %lld, k dim %lld, v dim %lld, conv %lld\n",
                        (long long)lin, (long long)c.n_layers, (long long)c.lin_k_heads, (long long)c.lin_v_heads,
                        (long long)c.lin_k_dim, (long long)c.lin_v_dim, (long long)c.conv_kernel);
        }
        std::printf("\n%-40s %-8s %-24s %12s\n", "tensor", "type", "shape (ne)", "bytes");
        for (const auto& [name, t] : d.tensors) {
            std::string shape;
            for (auto n : t.ne) shape += (shape.empty() ? "" : " x ") + std::to_string(n);
            std::printf("%-40s %-8s %-24s %12llu\n", name.c_str(), type_name(t.type), shape.c_str(),
                        (unsigned long long)t.bytes);
        }
        std::printf("\n%-6s %-28s %14s %16s\n", "layer", "expert types (gate/up/down)", "bytes/expert", "bytes/layer");
        for (size_t l = 0; l < d.experts.size(); ++l) {
            const LayerExperts& le = d.experts[l];
            if (le.empty()) {
                std::printf("%-6zu %-28s\n", l, "dense (no experts)");
                continue;
            }
            std::string types = std::string(type_name(le.gate.type)) + "/" + type_name(le.up.type) + "/" + type_name(le.down.type);
            std::printf("%-6zu %-28s %14llu %16llu\n", l, types.c_str(), (unsigned long long)le.expert_bytes(),
                        (unsigned long long)(le.expert_bytes() * uint64_t(c.n_experts)));
        }
        uint64_t per_token = 0;
        for (const auto& le : d.experts) per_token += le.expert_bytes() * uint64_t(c.n_experts_used);
        std::printf("\ndense part:  %s\nexperts:     %s\nexpert bytes per token (L*K*B_e): %s\n",
                    format_size(d.dense_bytes()).c_str(), format_size(d.expert_bytes()).c_str(),
                    format_size(per_token).c_str());

        Bandwidth bw = measured_bandwidth(*path, args->probe, expert_read_bytes(d));
        std::printf("\nmeasured: disk %.2f GB/s, memory %.2f GB/s, prefill products %.1f GFLOP/s (cached; --probe "
                    "re-measures)\n",
                    bw.disk_bytes_per_s / 1e9, bw.memory_bytes_per_s / 1e9, bw.matmul_flops_per_s / 1e9);
        uint64_t budget = args->mem.empty() ? 0 : parse_size(args->mem);
        MemoryPlan plan = plan_memory(d, budget, args->context, args->cache_type.value_or(KvCacheType::F16),
                                      args->experts_per_token, bw, args->ubatch, args->parallel, parallel->count() > 0);
        std::printf("%s", plan.describe().c_str());
    });
}

}  // namespace sluice::cli
