#include "format/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "format/convert.h"
#include "util/error.h"

namespace sluice {

namespace {

// The fields the released Qwen MoE models share; callers set the rest.
ModelConfig geometry(Arch arch, int64_t vocab, int64_t hidden, int64_t layers, int64_t heads, int64_t kv_heads,
                     int64_t head_dim, int64_t experts, int64_t used, int64_t ffn) {
    ModelConfig c;
    c.arch = arch;
    c.vocab_size = vocab;
    c.hidden = hidden;
    c.n_layers = layers;
    c.n_heads = heads;
    c.n_kv_heads = kv_heads;
    c.head_dim = head_dim;
    c.rope_dim = head_dim;
    c.n_experts = experts;
    c.n_experts_used = used;
    c.expert_ffn = ffn;
    return c;
}

ModelConfig qwen3moe_geometry(int64_t hidden, int64_t layers, int64_t heads, int64_t experts, int64_t ffn) {
    ModelConfig c = geometry(Arch::Qwen3Moe, 151936, hidden, layers, heads, 4, 128, experts, 8, ffn);
    c.rope_theta = 1e6f;
    c.context_length = 40960;
    return c;
}

ModelConfig qwen35_geometry(int64_t hidden, int64_t layers, int64_t heads, int64_t v_heads, int64_t experts,
                            int64_t used, int64_t ffn) {
    ModelConfig c = geometry(Arch::Qwen35Moe, 248320, hidden, layers, heads, 2, 256, experts, used, ffn);
    c.rope_dim = 64;
    c.rope_theta = 1e7f;
    c.context_length = 262144;
    c.shared_expert_ffn = ffn;
    c.lin_k_heads = 16;
    c.lin_v_heads = v_heads;
    c.lin_k_dim = 128;
    c.lin_v_dim = 128;
    c.conv_kernel = 4;
    return c;
}

// gpt-oss-120b (openai/gpt-oss-120b's config.json): 36 layers alternating sliding (128) and full
// attention, 64 heads of 64 over 8 KV heads, 128 experts of 2880, 4 per token, YaRN ×32.
ModelConfig gptoss_geometry(int64_t layers, int64_t experts) {
    ModelConfig c = geometry(Arch::GptOss, 201088, 2880, layers, 64, 8, 64, experts, 4, 2880);
    c.rope_theta = 150000.0f;
    c.rms_eps = 1e-5f;
    c.context_length = 131072;
    c.gating = Gating::SoftmaxOfChosen;
    c.sliding_window = 128;
    c.sliding_layer.assign(size_t(layers), false);
    for (int64_t l = 0; l < layers; l += 2) c.sliding_layer[size_t(l)] = true;
    c.swiglu_limit = 7.0f;
    c.yarn = {32.0f, 4096, 32.0f, 1.0f, float(0.1 * std::log(32.0) + 1.0), false};
    return c;
}

// GLM-4.5 / 4.6 and DeepSeek-V3 / Kimi-K2 (their released config.json files): sigmoid routing
// with a correction bias, a shared expert, leading dense layers.
ModelConfig deepseek_family_geometry(Arch arch, int64_t vocab, int64_t hidden, int64_t layers, int64_t heads,
                                     int64_t kv_heads, int64_t head_dim, int64_t experts, int64_t dense_layers) {
    ModelConfig c = geometry(arch, vocab, hidden, layers, heads, kv_heads, head_dim, experts, 8, 2048);
    c.gating = Gating::Sigmoid;
    c.shared_expert_ffn = c.expert_ffn;
    c.n_dense_layers = dense_layers;
    c.dense_ffn = 18432;
    c.routed_scale = 2.5f;
    c.rms_eps = 1e-6f;
    return c;
}

ModelConfig glm46_geometry() {
    ModelConfig c = deepseek_family_geometry(Arch::Glm4Moe, 151552, 5120, 92, 96, 8, 128, 160, 3);
    c.expert_ffn = c.shared_expert_ffn = 1536;
    c.dense_ffn = 12288;
    c.rope_dim = 64;   // partial_rotary_factor 0.5
    c.rope_theta = 1e6f;
    c.rms_eps = 1e-5f;
    c.context_length = 202752;
    return c;
}

// DeepSeek-V3 and Kimi-K2: latent attention (q rank 1536, kv rank 512, 128 + 64 key, 128 value
// dims per head) and YaRN over a 4096-token original context.
ModelConfig mla_geometry(int64_t vocab, int64_t heads, int64_t experts, int64_t groups, int64_t groups_used,
                         int64_t dense_layers, float yarn_factor, float theta, int64_t context) {
    ModelConfig c = deepseek_family_geometry(Arch::DeepSeek2, vocab, 7168, 61, heads, heads, 192, experts, dense_layers);
    c.q_lora = 1536;
    c.kv_lora = 512;
    c.qk_nope = 128;
    c.rope_dim = 64;
    c.v_head_dim = 128;
    c.expert_groups = groups;
    c.expert_groups_used = groups_used;
    c.rope_theta = theta;
    c.context_length = context;
    c.yarn.factor = yarn_factor;
    c.yarn.original_context = 4096;
    c.yarn.attn_mscale = float(0.1 * std::log(double(yarn_factor)) + 1.0);   // mscale_all_dim 1
    return c;
}

// Random weights are drawn as whole quantised blocks from a pool made by quantising Gaussian
// data once per (type, fan-in): as fast as copying, and every block is a valid one.
class BlockPool {
public:
    BlockPool(GgmlType type, int64_t fan_in, uint64_t seed) : unit_(unit(type, fan_in)) {
        std::mt19937_64 rng(seed);
        std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(float(fan_in)));
        unit_bytes_ = row_bytes(type, unit_);
        std::vector<float> values(static_cast<size_t>(unit_));
        pool_.resize(kPoolUnits * unit_bytes_);
        for (size_t u = 0; u < kPoolUnits; ++u) {
            for (auto& v : values) v = normal(rng);
            quantize_row_ref(type, values.data(), pool_.data() + u * unit_bytes_, unit_);
        }
    }
    // Values per pooled piece: one K-quant super-block, or a 32-value block where rows are not
    // whole super-blocks (gpt-oss's 2880); 0 where neither divides the row.
    static int64_t unit(GgmlType type, int64_t cols) {
        if (cols % 256 == 0) return 256;
        return cols % 32 == 0 && type_info(type).block_size <= 32 ? 32 : 0;
    }

    void fill_row(uint8_t* dst, int64_t cols, uint64_t& state) const {
        for (int64_t c = 0; c < cols; c += unit_) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            std::memcpy(dst, pool_.data() + (state % kPoolUnits) * unit_bytes_, unit_bytes_);
            dst += unit_bytes_;
        }
    }

private:
    static constexpr size_t kPoolUnits = 4096;
    int64_t unit_;
    size_t unit_bytes_;
    std::vector<uint8_t> pool_;
};

struct TensorPlan {
    std::string name;
    std::vector<int64_t> ne;
    enum Init { Matrix, Ones, NegDecay, Small } init;
};

// One GLM-4.5 or DeepSeek-V3 layer in llama.cpp's names (deepseek2 in the absorbed form).
template <class Add>
void deepseek_family_layer(const ModelConfig& c, int64_t l, const Add& add) {
    const int64_t H = c.hidden, D = c.head_dim, nh = c.n_heads, E = c.n_experts, I = c.expert_ffn;
    add("attn_norm.weight", {H}, TensorPlan::Ones);
    if (c.arch == Arch::DeepSeek2) {
        const int64_t L = c.kv_lora, R = c.rope_dim;
        add("attn_q_a.weight", {H, c.q_lora});
        add("attn_q_a_norm.weight", {c.q_lora}, TensorPlan::Ones);
        add("attn_q_b.weight", {c.q_lora, nh * D});
        add("attn_kv_a_mqa.weight", {H, L + R});
        add("attn_kv_a_norm.weight", {L}, TensorPlan::Ones);
        add("attn_k_b.weight", {c.qk_nope, L, nh});
        add("attn_v_b.weight", {L, c.v_head_dim, nh});
        add("attn_output.weight", {nh * c.v_head_dim, H});
        add("ffn_norm.weight", {H}, TensorPlan::Ones);
    } else {
        add("attn_q.weight", {H, nh * D});
        add("attn_k.weight", {H, c.n_kv_heads * D});
        add("attn_v.weight", {H, c.n_kv_heads * D});
        add("attn_q.bias", {nh * D}, TensorPlan::Small);
        add("attn_k.bias", {c.n_kv_heads * D}, TensorPlan::Small);
        add("attn_v.bias", {c.n_kv_heads * D}, TensorPlan::Small);
        add("attn_q_norm.weight", {D}, TensorPlan::Ones);
        add("attn_k_norm.weight", {D}, TensorPlan::Ones);
        add("attn_output.weight", {nh * D, H});
        add("post_attention_norm.weight", {H}, TensorPlan::Ones);
    }
    if (c.is_dense(l)) {
        add("ffn_gate.weight", {H, c.dense_ffn});
        add("ffn_up.weight", {H, c.dense_ffn});
        add("ffn_down.weight", {c.dense_ffn, H});
        return;
    }
    add("ffn_gate_inp.weight", {H, E});
    add("exp_probs_b.bias", {E}, TensorPlan::Small);
    add("ffn_gate_exps.weight", {H, I, E});
    add("ffn_up_exps.weight", {H, I, E});
    add("ffn_down_exps.weight", {I, H, E});
    add("ffn_gate_shexp.weight", {H, c.shared_expert_ffn});
    add("ffn_up_shexp.weight", {H, c.shared_expert_ffn});
    add("ffn_down_shexp.weight", {c.shared_expert_ffn, H});
}

std::vector<TensorPlan> tensor_plan(const ModelConfig& c) {
    const int64_t H = c.hidden, D = c.head_dim, E = c.n_experts, I = c.expert_ffn, V = c.vocab_size;
    std::vector<TensorPlan> t = {{"token_embd.weight", {H, V}, TensorPlan::Matrix},
                                 {"output_norm.weight", {H}, TensorPlan::Ones},
                                 {"output.weight", {H, V}, TensorPlan::Matrix}};
    const bool hybrid = c.arch == Arch::Qwen35Moe || c.arch == Arch::Qwen3Next;
    const bool gptoss = c.arch == Arch::GptOss;
    for (int64_t l = 0; l < c.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        auto add = [&](const std::string& n, std::vector<int64_t> ne, TensorPlan::Init init = TensorPlan::Matrix) {
            t.push_back({p + n, std::move(ne), init});
        };
        if (c.arch == Arch::Glm4Moe || c.arch == Arch::DeepSeek2) {
            deepseek_family_layer(c, l, add);
            continue;
        }
        add("attn_norm.weight", {H}, TensorPlan::Ones);
        add(hybrid || gptoss ? "post_attention_norm.weight" : "ffn_norm.weight", {H}, TensorPlan::Ones);
        if (c.is_linear(l)) {
            const int64_t key_dim = c.lin_k_heads * c.lin_k_dim, value_dim = c.lin_v_heads * c.lin_v_dim;
            const int64_t conv_dim = 2 * key_dim + value_dim;
            add("attn_qkv.weight", {H, conv_dim});
            add("attn_gate.weight", {H, value_dim});
            add("ssm_beta.weight", {H, c.lin_v_heads});
            add("ssm_alpha.weight", {H, c.lin_v_heads});
            add("ssm_conv1d.weight", {c.conv_kernel, conv_dim}, TensorPlan::Small);
            add("ssm_dt.bias", {c.lin_v_heads}, TensorPlan::Small);
            add("ssm_a", {c.lin_v_heads}, TensorPlan::NegDecay);
            add("ssm_norm.weight", {c.lin_v_dim}, TensorPlan::Ones);
            add("ssm_out.weight", {value_dim, H});
        } else {
            add("attn_q.weight", {H, (hybrid ? 2 : 1) * c.n_heads * D});
            add("attn_k.weight", {H, c.n_kv_heads * D});
            add("attn_v.weight", {H, c.n_kv_heads * D});
            add("attn_output.weight", {c.n_heads * D, H});
            if (gptoss) {
                add("attn_q.bias", {c.n_heads * D}, TensorPlan::Small);
                add("attn_k.bias", {c.n_kv_heads * D}, TensorPlan::Small);
                add("attn_v.bias", {c.n_kv_heads * D}, TensorPlan::Small);
                add("attn_output.bias", {H}, TensorPlan::Small);
                add("attn_sinks.weight", {c.n_heads}, TensorPlan::Small);
            } else {
                add("attn_q_norm.weight", {D}, TensorPlan::Ones);
                add("attn_k_norm.weight", {D}, TensorPlan::Ones);
            }
        }
        add("ffn_gate_inp.weight", {H, E});
        add("ffn_gate_exps.weight", {H, I, E});
        add("ffn_up_exps.weight", {H, I, E});
        add("ffn_down_exps.weight", {I, H, E});
        if (gptoss) {
            add("ffn_gate_inp.bias", {E}, TensorPlan::Small);
            add("ffn_gate_exps.bias", {I, E}, TensorPlan::Small);
            add("ffn_up_exps.bias", {I, E}, TensorPlan::Small);
            add("ffn_down_exps.bias", {H, E}, TensorPlan::Small);
        }
        if (c.shared_expert_ffn) {
            add("ffn_gate_inp_shexp.weight", {H});
            add("ffn_gate_shexp.weight", {H, c.shared_expert_ffn});
            add("ffn_up_shexp.weight", {H, c.shared_expert_ffn});
            add("ffn_down_shexp.weight", {c.shared_expert_ffn, H});
        }
    }
    return t;
}

}  // namespace

ModelConfig synth_geometry(const std::string& name) {
    if (name == "qwen3-30b-a3b") return qwen3moe_geometry(2048, 48, 32, 128, 768);
    if (name == "qwen3-235b-a22b") return qwen3moe_geometry(4096, 94, 64, 128, 1536);
    if (name == "qwen3.5-35b-a3b") return qwen35_geometry(2048, 40, 16, 32, 256, 8, 512);
    if (name == "qwen3.5-397b-a17b") return qwen35_geometry(4096, 60, 32, 64, 512, 10, 1024);
    if (name == "gpt-oss-120b") return gptoss_geometry(36, 128);
    if (name == "glm-4.6") return glm46_geometry();
    if (name == "deepseek-v3") return mla_geometry(129280, 128, 256, 8, 4, 3, 40, 1e4f, 163840);
    if (name == "kimi-k2") {
        ModelConfig c = mla_geometry(163840, 64, 384, 1, 1, 1, 32, 5e4f, 131072);
        c.routed_scale = 2.827f;
        c.yarn.beta_fast = 1;
        return c;
    }
    if (std::filesystem::exists(name)) return parse_hf_config(name);
    fail("unknown geometry '{}' (qwen3-30b-a3b, qwen3.5-35b-a3b, qwen3-235b-a22b, qwen3.5-397b-a17b, gpt-oss-120b, "
         "glm-4.6, deepseek-v3, kimi-k2, or a config.json)",
         name);
}

void write_synthetic_gguf(const ModelConfig& geometry, const std::string& out_path, const SynthOptions& options,
                          const GgufWriter::Progress& progress) {
    ModelConfig c = geometry;
    if (options.layers > 0) {
        if (options.layers > c.n_layers) fail("--layers {} exceeds the geometry's {} layers", options.layers, c.n_layers);
        c.n_layers = options.layers;
        c.n_dense_layers = std::min(c.n_dense_layers, c.n_layers - 1);   // keep a layer of experts
    }
    const bool hybrid = c.arch == Arch::Qwen35Moe || c.arch == Arch::Qwen3Next;
    if (c.arch == Arch::GptOss) c.sliding_layer.resize(size_t(c.n_layers));
    if (hybrid && c.linear_layer.size() != size_t(c.n_layers)) {
        c.linear_layer.assign(size_t(c.n_layers), false);
        for (int64_t i = 0; i < c.n_layers; ++i) c.linear_layer[size_t(i)] = (i + 1) % 4 != 0;
    }
    if (options.type.recipe == TypeRecipe::Single &&
        (!type_info(options.type.type).supported || !can_quantize(options.type.type)))
        fail("synth: type {} is not supported for writing", type_name(options.type.type));
    if (options.expert_type && (!type_info(*options.expert_type).supported || !can_quantize(*options.expert_type)))
        fail("synth: expert type {} is not supported for writing", type_name(*options.expert_type));

    GgufWriter w;
    write_arch_metadata(w, c);
    w.set_string("general.name", "sluice-synthetic");
    if (options.extra_metadata) options.extra_metadata(w);

    auto pools = std::make_shared<std::map<std::pair<GgmlType, int64_t>, std::unique_ptr<BlockPool>>>();
    bool quantized = false;
    uint64_t tensor_seed = options.seed;
    for (const TensorPlan& plan : tensor_plan(c)) {
        ++tensor_seed;
        const bool expert = plan.name.find("_exps.weight") != std::string::npos;
        GgmlType type = GgmlType::F32;
        if (plan.init == TensorPlan::Matrix)
            type = expert && options.expert_type ? choose_tensor_type(plan.name, plan.ne, *options.expert_type)
                                                 : tensor_type(options.type, plan.name, plan.ne, c.n_layers);
        quantized |= type_info(type).block_size > 1;
        const int64_t cols = plan.ne[0];
        if (plan.init == TensorPlan::Matrix && BlockPool::unit(type, cols) > 0) {
            auto& pool = (*pools)[{type, cols}];
            if (!pool) pool = std::make_unique<BlockPool>(type, cols, options.seed * 7919 + uint64_t(cols));
            const BlockPool* p = pool.get();
            const size_t rb = row_bytes(type, cols);
            w.add_tensor(plan.name, plan.ne, type, [p, cols, rb, tensor_seed](uint8_t* dst, int64_t r0, int64_t n) {
                uint64_t state = tensor_seed * 0x9E3779B97F4A7C15ull + uint64_t(r0) * 0xD1B54A32D192ED03ull + 1;
                for (int64_t r = 0; r < n; ++r) p->fill_row(dst + size_t(r) * rb, cols, state);
            });
            continue;
        }
        const TensorPlan::Init init = plan.init;
        w.add_tensor(plan.name, plan.ne, type, [init, cols, type, tensor_seed](uint8_t* dst, int64_t r0, int64_t n) {
            std::mt19937_64 rng(tensor_seed * 31 + uint64_t(r0));
            std::normal_distribution<float> normal(0.0f, init == TensorPlan::Matrix ? 1.0f / std::sqrt(float(cols)) : 0.3f);
            std::uniform_real_distribution<float> a_log(0.0f, std::log(16.0f));
            std::vector<float> row(static_cast<size_t>(cols));
            for (int64_t r = 0; r < n; ++r) {
                for (auto& v : row) {
                    switch (init) {
                        case TensorPlan::Ones: v = 1.0f + 0.1f * normal(rng); break;
                        case TensorPlan::NegDecay: v = -std::exp(a_log(rng)); break;
                        default: v = normal(rng); break;
                    }
                }
                quantize_row_ref(type, row.data(), dst + size_t(r) * row_bytes(type, cols), cols);
            }
        });
    }
    write_type_metadata(w, options.type.type, quantized);
    w.write(out_path, progress);
}

}  // namespace sluice
