// Hugging Face checkpoints → ModelDesc: maps tensor names to GGUF names and records each
// expert's slices, for per-expert tensors and for fused [E, 2I, H] / [E, H, I] experts.
#include <filesystem>
#include <cstring>
#include <regex>

#include "format/gptoss_experts.h"
#include "format/model_desc.h"
#include "format/safetensors.h"
#include "util/error.h"

namespace sluice {

namespace fs = std::filesystem;

namespace {

// HF names inside a decoder layer → GGUF suffixes.
const std::map<std::string, std::string>& layer_name_map(Arch arch) {
    static const std::map<std::string, std::string> common = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.q_norm.weight", "attn_q_norm.weight"},
        {"self_attn.k_norm.weight", "attn_k_norm.weight"},
        {"mlp.gate.weight", "ffn_gate_inp.weight"},
    };
    static const std::map<std::string, std::string> qwen3moe = [] {
        auto m = common;
        m["post_attention_layernorm.weight"] = "ffn_norm.weight";
        return m;
    }();
    static const std::map<std::string, std::string> hybrid = [] {
        auto m = common;
        m["post_attention_layernorm.weight"] = "post_attention_norm.weight";
        m["mlp.shared_expert.gate_proj.weight"] = "ffn_gate_shexp.weight";
        m["mlp.shared_expert.up_proj.weight"] = "ffn_up_shexp.weight";
        m["mlp.shared_expert.down_proj.weight"] = "ffn_down_shexp.weight";
        m["mlp.shared_expert_gate.weight"] = "ffn_gate_inp_shexp.weight";
        m["linear_attn.in_proj_qkv.weight"] = "attn_qkv.weight";
        m["linear_attn.in_proj_z.weight"] = "attn_gate.weight";
        m["linear_attn.in_proj_b.weight"] = "ssm_beta.weight";
        m["linear_attn.in_proj_a.weight"] = "ssm_alpha.weight";
        m["linear_attn.in_proj_qkvz.weight"] = "ssm_in.weight";   // Qwen3-Next, grouped by k-head
        m["linear_attn.in_proj_ba.weight"] = "ssm_ba.weight";     // Qwen3-Next, grouped by k-head
        m["linear_attn.conv1d.weight"] = "ssm_conv1d.weight";
        m["linear_attn.dt_bias"] = "ssm_dt.bias";
        m["linear_attn.A_log"] = "ssm_a";
        m["linear_attn.norm.weight"] = "ssm_norm.weight";
        m["linear_attn.out_proj.weight"] = "ssm_out.weight";
        return m;
    }();
    static const std::map<std::string, std::string> gptoss = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"post_attention_layernorm.weight", "post_attention_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.bias", "attn_output.bias"},
        {"self_attn.sinks", "attn_sinks.weight"},
        {"mlp.router.weight", "ffn_gate_inp.weight"},
        {"mlp.router.bias", "ffn_gate_inp.bias"},
        // [E, 2I] with gate and up interleaved (the model splits them); llama.cpp's GGUF has
        // ffn_gate_exps.bias and ffn_up_exps.bias instead.
        {"mlp.experts.gate_up_proj_bias", "ffn_gate_up_exps.bias"},
        {"mlp.experts.down_proj_bias", "ffn_down_exps.bias"},
    };
    if (arch == Arch::GptOss) return gptoss;
    // GLM-4.5 and DeepSeek-V3: dense FFNs in the first layers, shared experts, the router's
    // correction bias, attention biases (GLM), latent attention (DeepSeek).
    static const std::map<std::string, std::string> deepseek_family = [] {
        auto m = common;
        m["post_attention_layernorm.weight"] = "ffn_norm.weight";
        m["self_attn.q_proj.bias"] = "attn_q.bias";
        m["self_attn.k_proj.bias"] = "attn_k.bias";
        m["self_attn.v_proj.bias"] = "attn_v.bias";
        m["mlp.gate_proj.weight"] = "ffn_gate.weight";
        m["mlp.up_proj.weight"] = "ffn_up.weight";
        m["mlp.down_proj.weight"] = "ffn_down.weight";
        m["mlp.shared_experts.gate_proj.weight"] = "ffn_gate_shexp.weight";
        m["mlp.shared_experts.up_proj.weight"] = "ffn_up_shexp.weight";
        m["mlp.shared_experts.down_proj.weight"] = "ffn_down_shexp.weight";
        m["mlp.gate.e_score_correction_bias"] = "exp_probs_b.bias";
        m["self_attn.q_a_proj.weight"] = "attn_q_a.weight";
        m["self_attn.q_a_layernorm.weight"] = "attn_q_a_norm.weight";
        m["self_attn.q_b_proj.weight"] = "attn_q_b.weight";
        m["self_attn.kv_a_proj_with_mqa.weight"] = "attn_kv_a_mqa.weight";
        m["self_attn.kv_a_layernorm.weight"] = "attn_kv_a_norm.weight";
        m["self_attn.kv_b_proj.weight"] = "attn_kv_b.weight";
        return m;
    }();
    if (arch == Arch::Glm4Moe || arch == Arch::DeepSeek2) return deepseek_family;
    return arch == Arch::Qwen3Moe ? qwen3moe : hybrid;
}

std::vector<int64_t> reversed(const std::vector<int64_t>& shape) { return {shape.rbegin(), shape.rend()}; }

TensorRef make_ref(const std::string& name, const SafetensorsTensor& t, const SafetensorsSet& set) {
    TensorRef r;
    r.name = name;
    r.source_name = t.name;
    r.file = t.file;
    r.offset = t.offset;
    r.ne = reversed(t.shape);
    if (r.ne.empty()) r.ne = {1};
    r.type = safetensors_dtype_to_ggml(t.dtype, t.name, set.files()[size_t(t.file)]->path());
    r.bytes = t.bytes;
    return r;
}

void check_expert_shape(const SafetensorsTensor& t, const std::vector<int64_t>& want, const std::string& file) {
    if (t.shape != want) {
        std::string got, exp;
        for (auto d : t.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
        for (auto d : want) exp += (exp.empty() ? "" : ", ") + std::to_string(d);
        fail("{}: tensor {} has shape [{}] but config.json implies [{}]", file, t.name, got, exp);
    }
}

}  // namespace

ModelDesc open_hf_model(const std::string& dir) {
    ModelDesc desc;
    desc.path = dir;
    desc.config = parse_hf_config((fs::path(dir) / "config.json").string());
    const ModelConfig& c = desc.config;
    SafetensorsSet set(dir);
    desc.files = set.files();
    auto file_of = [&](const SafetensorsTensor& t) { return set.files()[size_t(t.file)]->path(); };

    const auto& names = layer_name_map(c.arch);
    static const std::regex layer_re(R"(^layers\.(\d+)\.(.+)$)");
    static const std::regex expert_re(R"(^mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight$)");

    desc.experts.resize(size_t(c.n_layers));
    std::vector<std::map<std::string, const SafetensorsTensor*>> gptoss_experts(size_t(c.n_layers));
    const int64_t E = c.n_experts, I = c.expert_ffn, H = c.hidden;
    for (int64_t l = c.n_dense_layers; l < c.n_layers; ++l) {
        LayerExperts& le = desc.experts[size_t(l)];
        for (auto* p : {&le.gate, &le.up, &le.down}) p->experts.assign(size_t(E), {-1, 0, 0});
    }
    // GLM-4.5 and DeepSeek-V3 append their multi-token-prediction layers after the decoder's.
    const bool mtp_layers_follow = c.arch == Arch::Glm4Moe || c.arch == Arch::DeepSeek2;

    for (const auto& [full, t] : set.tensors()) {
        std::string name = full;
        if (name.rfind("model.visual.", 0) == 0 || name.rfind("mtp.", 0) == 0) continue;
        if (name == "lm_head.weight") {
            desc.tensors["output.weight"] = make_ref("output.weight", t, set);
            continue;
        }
        for (const char* prefix : {"model.language_model.", "model."})
            if (name.rfind(prefix, 0) == 0) {
                name = name.substr(std::strlen(prefix));
                break;
            }
        if (name == "embed_tokens.weight") desc.tensors["token_embd.weight"] = make_ref("token_embd.weight", t, set);
        else if (name == "norm.weight") desc.tensors["output_norm.weight"] = make_ref("output_norm.weight", t, set);
        std::smatch m;
        if (!std::regex_match(name, m, layer_re)) continue;
        int64_t layer = std::stoll(m[1]);
        if (layer >= c.n_layers && mtp_layers_follow) continue;
        if (layer >= c.n_layers) fail("{}: tensor {} names layer {} but config.json has {} layers", file_of(t), full, layer, c.n_layers);
        std::string rest = m[2];
        std::string blk = "blk." + std::to_string(layer) + ".";
        LayerExperts& le = desc.experts[size_t(layer)];
        if (c.arch == Arch::GptOss && is_gptoss_expert_tensor(rest)) {
            gptoss_experts[size_t(layer)][rest] = &t;
            continue;
        }
        GgmlType type = safetensors_dtype_to_ggml(t.dtype, full, file_of(t));
        if (auto it = names.find(rest); it != names.end()) {
            desc.tensors[blk + it->second] = make_ref(blk + it->second, t, set);
        } else if (std::smatch em; std::regex_match(rest, em, expert_re)) {
            if (le.empty()) fail("{}: tensor {} is an expert of layer {}, a dense layer", file_of(t), full, layer);
            int64_t e = std::stoll(em[1]);
            if (e >= E) fail("{}: tensor {} names expert {} but config.json has {} experts", file_of(t), full, e, E);
            std::string proj = em[2];
            ExpertProjection& p = proj == "gate" ? le.gate : proj == "up" ? le.up : le.down;
            check_expert_shape(t, proj == "down" ? std::vector<int64_t>{H, I} : std::vector<int64_t>{I, H}, file_of(t));
            p.type = type;
            p.experts[size_t(e)] = {t.file, t.offset, t.bytes};
        } else if (rest == "mlp.experts.gate_up_proj") {
            if (le.empty()) fail("{}: tensor {} holds experts of layer {}, a dense layer", file_of(t), full, layer);
            check_expert_shape(t, {E, 2 * I, H}, file_of(t));
            uint64_t half = t.bytes / uint64_t(2 * E);
            for (int64_t e = 0; e < E; ++e) {
                le.gate.experts[size_t(e)] = {t.file, t.offset + uint64_t(2 * e) * half, half};
                le.up.experts[size_t(e)] = {t.file, t.offset + uint64_t(2 * e + 1) * half, half};
            }
            le.gate.type = le.up.type = type;
        } else if (rest == "mlp.experts.down_proj") {
            if (le.empty()) fail("{}: tensor {} holds experts of layer {}, a dense layer", file_of(t), full, layer);
            check_expert_shape(t, {E, H, I}, file_of(t));
            uint64_t each = t.bytes / uint64_t(E);
            for (int64_t e = 0; e < E; ++e) le.down.experts[size_t(e)] = {t.file, t.offset + uint64_t(e) * each, each};
            le.down.type = type;
        }
    }

    if (c.arch == Arch::GptOss) {
        load_gptoss_experts(set, gptoss_experts, desc);
        return desc;
    }
    for (int64_t l = c.n_dense_layers; l < c.n_layers; ++l) {
        LayerExperts& le = desc.experts[size_t(l)];
        std::string blk = "blk." + std::to_string(l) + ".";
        const char* hf_names[] = {"gate_proj", "up_proj", "down_proj"};
        int i = 0;
        for (auto* p : {&le.gate, &le.up, &le.down}) {
            const char* kind = i == 0 ? "gate" : i == 1 ? "up" : "down";
            p->name = blk + "ffn_" + kind + "_exps.weight";
            p->rows = i == 2 ? H : I;
            p->cols = i == 2 ? I : H;
            for (int64_t e = 0; e < E; ++e)
                if (p->experts[size_t(e)].file < 0)
                    fail("{}: missing tensor for layer {} expert {} ({}.mlp.experts.{}.{}.weight)", dir, l, e, "layers." + std::to_string(l), e,
                         hf_names[i]);
            ++i;
        }
    }
    return desc;
}

}  // namespace sluice
