// sluice inspect: architecture, hyper-parameters, tensors with types and sizes, expert bytes.
#include <cstdio>

#include "cli/commands.h"
#include "format/model_desc.h"
#include "util/size.h"

namespace sluice::cli {

void register_inspect(CLI::App& app) {
    auto path = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("inspect", "Show a model's architecture, tensors and sizes");
    cmd->add_option("-m,--model", *path, "GGUF file or Hugging Face folder")->required();
    cmd->callback([path] {
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
            std::string types = std::string(type_name(le.gate.type)) + "/" + type_name(le.up.type) + "/" + type_name(le.down.type);
            std::printf("%-6zu %-28s %14llu %16llu\n", l, types.c_str(), (unsigned long long)le.expert_bytes(),
                        (unsigned long long)(le.expert_bytes() * uint64_t(c.n_experts)));
        }
        uint64_t per_token = 0;
        for (const auto& le : d.experts) per_token += le.expert_bytes() * uint64_t(c.n_experts_used);
        std::printf("\ndense part:  %s\nexperts:     %s\nexpert bytes per token (L*K*B_e): %s\n",
                    format_size(d.dense_bytes()).c_str(), format_size(d.expert_bytes()).c_str(),
                    format_size(per_token).c_str());
    });
}

}  // namespace sluice::cli
