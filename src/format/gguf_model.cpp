// GGUF files in llama.cpp's conventions → ModelDesc (model-spec §B.10, §C.2).
#include <algorithm>
#include <cmath>
#include <regex>

#include "util/limits.h"
#include "format/model_desc.h"
#include "util/error.h"

namespace sluice {

namespace {

class Meta {
public:
    Meta(const GgufFile& f, std::string arch) : f_(f), arch_(std::move(arch)) {}
    int64_t integer(const std::string& key) const { return f_.get(arch_ + "." + key).as_int(arch_ + "." + key); }
    int64_t integer(const std::string& key, int64_t fallback) const {
        auto* v = f_.find(arch_ + "." + key);
        return v ? v->as_int(arch_ + "." + key) : fallback;
    }
    double number(const std::string& key, double fallback) const {
        auto* v = f_.find(arch_ + "." + key);
        return v ? v->as_float(arch_ + "." + key) : fallback;
    }
    // Keys that llama.cpp may store per layer as an array: take the largest entry.
    int64_t integer_or_max(const std::string& key) const {
        const GgufValue& v = f_.get(arch_ + "." + key);
        if (v.is_integer()) return v.as_int(key);
        int64_t best = 0;
        for (const auto& item : v.as_array(key).items) best = std::max(best, item.as_int(key));
        return best;
    }
    bool boolean(const std::string& key, bool fallback) const {
        auto* v = f_.find(arch_ + "." + key);
        return v ? v->as_bool(arch_ + "." + key) : fallback;
    }
    bool has(const std::string& key) const { return f_.find(arch_ + "." + key) != nullptr; }
    const std::string& arch() const { return arch_; }
    std::string string(const std::string& key) const { return f_.get(arch_ + "." + key).as_string(arch_ + "." + key); }
    std::string string(const std::string& key, const std::string& fallback) const {
        auto* v = f_.find(arch_ + "." + key);
        return v ? v->as_string(arch_ + "." + key) : fallback;
    }
    int64_t global(const std::string& key, int64_t fallback) const {
        auto* v = f_.find(key);
        return v ? v->as_int(key) : fallback;
    }

private:
    const GgufFile& f_;
    std::string arch_;
};

// gpt-oss (llama.cpp's conventions): even layers slide (its swa pattern of 2), YaRN from the
// rope.scaling keys. GGUF has no key for YaRN's `truncate`; every released gpt-oss config says
// false (the ramp's ends are not rounded), and so do we, where llama.cpp rounds them: rounded,
// the fixture's logits move by 1.7e-2 from transformers'; unrounded they agree to 3.5e-6.
void read_gpt_oss(const Meta& m, const std::string& path, ModelConfig& c) {
    c.gating = Gating::SoftmaxOfChosen;
    c.sliding_window = m.integer("attention.sliding_window");
    if (c.sliding_window <= 0) fail("{}: gpt-oss.attention.sliding_window must be positive", path);
    c.sliding_layer.assign(size_t(c.n_layers), false);
    for (int64_t l = 0; l < c.n_layers; l += 2) c.sliding_layer[size_t(l)] = true;
    c.swiglu_limit = 7.0f;   // llama.cpp's constant for gpt-oss (no GGUF key)
    const std::string type = m.string("rope.scaling.type", "none");
    if (type == "yarn") {
        c.yarn.factor = float(m.number("rope.scaling.factor", 0));
        c.yarn.original_context = m.integer("rope.scaling.original_context_length");
        c.yarn.beta_fast = float(m.number("rope.scaling.yarn_beta_fast", 32));
        c.yarn.beta_slow = float(m.number("rope.scaling.yarn_beta_slow", 1));
        c.yarn.truncate = false;
        if (c.yarn.factor < 1 || c.yarn.original_context <= 0)
            fail("{}: gpt-oss.rope.scaling.factor must be ≥ 1 and original_context_length positive", path);
        c.yarn.rope_scale = float(0.1 * std::log(double(c.yarn.factor)) + 1.0);
    } else if (type != "none") {
        fail("{}: gpt-oss.rope.scaling.type \"{}\" is not supported (yarn or none)", path, type);
    }
}

// llama.cpp's glm4moe and deepseek2 keys for the shared MoE block (hf_config.cpp has the same
// from config.json); MLA's geometry and YaRN for deepseek2.
void read_deepseek_family(const Meta& m, const std::string& path, ModelConfig& c) {
    const int64_t gating = m.integer("expert_gating_func", 1);
    if (gating != 2)
        fail("{}: {}.expert_gating_func {} is not supported (only 2, sigmoid, as DeepSeek-V3 and GLM-4.5 release)", path,
             m.arch(), gating);
    c.gating = Gating::Sigmoid;
    c.n_dense_layers = m.integer("leading_dense_block_count", 0);
    c.dense_ffn = m.integer("feed_forward_length");
    c.shared_expert_ffn = m.integer("expert_shared_count", 0) * c.expert_ffn;
    c.expert_groups = m.integer("expert_group_count", 1);
    c.expert_groups_used = m.integer("expert_group_used_count", 1);
    c.routed_scale = float(m.number("expert_weights_scale", 1.0));
    c.norm_topk_prob = m.boolean("expert_weights_norm", false);
    if (c.n_dense_layers > c.n_layers)
        fail("{}: {}.leading_dense_block_count {} is more than the {} layers", path, m.arch(), c.n_dense_layers, c.n_layers);
    if (c.expert_groups <= 0 || c.n_experts % c.expert_groups != 0 || c.expert_groups_used <= 0 ||
        c.expert_groups_used > c.expert_groups || (c.expert_groups > 1 && c.n_experts / c.expert_groups < 2))
        fail("{}: {}.expert_group_count {} and expert_group_used_count {} do not divide {} experts into groups of 2 or more",
             path, m.arch(), c.expert_groups, c.expert_groups_used, c.n_experts);
    if (c.arch != Arch::DeepSeek2) return;
    c.q_lora = m.integer("attention.q_lora_rank", 0);
    c.kv_lora = m.integer("attention.kv_lora_rank");
    c.rope_dim = m.integer("rope.dimension_count");
    // Files with attn_k_b / attn_v_b describe the absorbed form (key_length = kv_lora + rope) and
    // keep the per-head sizes under *_mla; older files have only the per-head sizes.
    c.head_dim = m.integer("attention.key_length_mla", m.integer("attention.key_length"));
    c.v_head_dim = m.integer("attention.value_length_mla", m.integer("attention.value_length"));
    c.qk_nope = c.head_dim - c.rope_dim;
    c.n_kv_heads = c.n_heads;
    if (c.q_lora == 0) fail("{}: {}.attention.q_lora_rank is missing (DeepSeek-V2-Lite's uncompressed query is not supported)", path, m.arch());
    if (c.qk_nope <= 0 || c.rope_dim % 2 != 0 || c.v_head_dim <= 0 || c.kv_lora <= 0)
        fail("{}: {}: inconsistent MLA geometry (key {} = nope + rope {}, value {}, kv_lora_rank {})", path, m.arch(),
             c.head_dim, c.rope_dim, c.v_head_dim, c.kv_lora);
    if (m.has("rope.scaling.type")) {
        std::string type = m.string("rope.scaling.type");
        if (type == "yarn") {
            Yarn& y = c.yarn;
            y.factor = float(m.number("rope.scaling.factor", 1.0));
            y.original_context = m.integer("rope.scaling.original_context_length");
            y.beta_fast = float(m.number("rope.scaling.yarn_beta_fast", 32.0));
            y.beta_slow = float(m.number("rope.scaling.yarn_beta_slow", 1.0));
            // llama.cpp cancels ggml's YaRN magnitude on cos/sin for deepseek2 and puts
            // 1 + yarn_log_multiplier·ln(factor) (0.1·mscale_all_dim) into the softmax scale twice.
            y.rope_scale = 1;
            y.attn_mscale = float(1.0 + m.number("rope.scaling.yarn_log_multiplier", 0.0) * std::log(double(y.factor)));
            if (y.factor < 1 || y.original_context <= 0)
                fail("{}: {}.rope.scaling: YaRN needs factor ≥ 1 and original_context_length > 0", path, m.arch());
        } else if (type != "none") {
            fail("{}: {}.rope.scaling.type \"{}\" is not supported (only yarn)", path, m.arch(), type);
        }
    }
}

}  // namespace

ModelDesc open_gguf_model(const std::string& path) {
    ModelDesc desc;
    desc.path = path;
    desc.gguf = std::make_shared<GgufFile>(path);
    const GgufFile& g = *desc.gguf;
    desc.files = {g.mapped()};
    std::string arch = g.get("general.architecture").as_string("general.architecture");
    ModelConfig& c = desc.config;
    if (arch == "qwen3moe") c.arch = Arch::Qwen3Moe;
    else if (arch == "qwen35moe") c.arch = Arch::Qwen35Moe;
    else if (arch == "qwen3next") c.arch = Arch::Qwen3Next;
    else if (arch == "gpt-oss") c.arch = Arch::GptOss;
    else if (arch == "glm4moe") c.arch = Arch::Glm4Moe;
    else if (arch == "deepseek2") c.arch = Arch::DeepSeek2;
    else fail("{}: unknown architecture \"{}\" (supported: qwen3moe, qwen35moe, qwen3next, gpt-oss, glm4moe, deepseek2)", path, arch);

    Meta m(g, arch);
    int64_t block_count = m.integer("block_count");
    c.n_layers = block_count - m.integer("nextn_predict_layers", 0);
    if (c.n_layers <= 0 || c.n_layers > limits::kMaxLayers)
        fail("{}: {}.block_count {} less nextn_predict_layers is {} layers (expected 1 to {})", path, arch, block_count,
             c.n_layers, limits::kMaxLayers);
    c.hidden = m.integer("embedding_length");
    c.context_length = m.integer("context_length", 4096);
    c.n_heads = m.integer_or_max("attention.head_count");
    c.n_kv_heads = m.integer_or_max("attention.head_count_kv");
    c.head_dim = m.integer("attention.key_length", c.n_heads ? c.hidden / c.n_heads : 0);
    c.rms_eps = float(m.number("attention.layer_norm_rms_epsilon", 1e-6));
    c.rope_theta = float(m.number("rope.freq_base", 10000.0));
    c.rope_dim = m.integer("rope.dimension_count", c.head_dim);
    c.n_experts = m.integer("expert_count");
    c.n_experts_used = m.integer("expert_used_count");
    c.expert_ffn = m.integer("expert_feed_forward_length");
    c.shared_expert_ffn = m.integer("expert_shared_feed_forward_length", 0);
    c.norm_topk_prob = true;  // llama.cpp normalises for all three architectures
    c.bos_token = m.global("tokenizer.ggml.bos_token_id", -1);
    c.eos_token = m.global("tokenizer.ggml.eos_token_id", -1);
    if (c.arch == Arch::GptOss) {
        read_gpt_oss(m, path, c);
    } else if (c.arch == Arch::Glm4Moe || c.arch == Arch::DeepSeek2) {
        read_deepseek_family(m, path, c);
    } else if (c.arch != Arch::Qwen3Moe) {
        c.conv_kernel = m.integer("ssm.conv_kernel");
        c.lin_k_dim = m.integer("ssm.state_size");
        c.lin_k_heads = m.integer("ssm.group_count");
        c.lin_v_heads = m.integer("ssm.time_step_rank");
        if (c.lin_v_heads == 0 || c.lin_k_heads == 0) fail("{}: {}.ssm.group_count/time_step_rank must be positive", path, arch);
        c.lin_v_dim = m.integer("ssm.inner_size") / c.lin_v_heads;
        int64_t interval = m.integer("full_attention_interval", 4);
        if (interval <= 0) fail("{}: {}.full_attention_interval must be positive", path, arch);
        c.linear_layer.assign(size_t(c.n_layers), false);
        for (int64_t i = 0; i < c.n_layers; ++i) c.linear_layer[size_t(i)] = (i + 1) % interval != 0;
        desc.conventions.norm_has_unit_offset = true;
        desc.conventions.ssm_a_is_neg_exp = true;
        desc.conventions.v_heads_tiled = c.arch == Arch::Qwen35Moe;
    }
    if (c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0)
        fail("{}: inconsistent geometry ({} layers, {} heads, {} kv heads)", path, c.n_layers, c.n_heads, c.n_kv_heads);
    if (c.n_experts <= 0 || c.n_experts_used <= 0 || c.n_experts_used > c.n_experts)
        fail("{}: {}.expert_used_count {} must be between 1 and expert_count {}", path, arch, c.n_experts_used, c.n_experts);

    const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
    if (!embd) fail("{}: missing tensor token_embd.weight", path);
    if (embd->ne.size() != 2 || embd->ne[0] != c.hidden)
        fail("{}: tensor token_embd.weight must be {{{}, vocab}}", path, c.hidden);
    c.vocab_size = embd->ne[1];
    if (c.vocab_size > limits::kMaxVocab)
        fail("{}: tensor token_embd.weight: vocabulary of {} tokens (the limit is {})", path, c.vocab_size,
             limits::kMaxVocab);

    static const std::regex exps_re(R"(^blk\.(\d+)\.ffn_(gate|up|down|gate_up)_exps\.weight$)");
    desc.experts.resize(size_t(c.n_layers));
    const int64_t E = c.n_experts, I = c.expert_ffn, H = c.hidden;
    for (const auto& t : g.tensors()) {
        std::smatch sm;
        if (!std::regex_match(t.name, sm, exps_re)) {
            desc.tensors[t.name] = {t.name, t.name, 0, t.offset, t.ne, t.type, t.bytes};
            continue;
        }
        // Digits past the layer count (an MTP layer's experts, or a corrupt name) are skipped
        // before they are converted, so a 30-digit number cannot overflow.
        const std::string digits = sm[1];
        if (digits.size() > 9 || std::stoll(digits) >= c.n_layers) continue;
        const int64_t layer = std::stoll(digits);
        std::string kind = sm[2];
        LayerExperts& le = desc.experts[size_t(layer)];
        std::vector<int64_t> want = kind == "down" ? std::vector<int64_t>{I, H, E}
                                    : kind == "gate_up" ? std::vector<int64_t>{H, 2 * I, E}
                                                        : std::vector<int64_t>{H, I, E};
        if (t.ne != want)
            fail("{}: tensor {} has shape {{{}}} but the metadata implies {{{}}}", path, t.name, fmt::join(t.ne, ", "),
                 fmt::join(want, ", "));
        uint64_t per_expert = t.bytes / uint64_t(E);
        auto fill = [&](ExpertProjection& p, const std::string& name, int64_t rows, int64_t cols, uint64_t skip,
                        uint64_t bytes) {
            p.name = name;
            p.type = t.type;
            p.rows = rows;
            p.cols = cols;
            p.experts.resize(size_t(E));
            for (int64_t e = 0; e < E; ++e) p.experts[size_t(e)] = {0, t.offset + uint64_t(e) * per_expert + skip, bytes};
        };
        if (kind == "gate") fill(le.gate, t.name, I, H, 0, per_expert);
        else if (kind == "up") fill(le.up, t.name, I, H, 0, per_expert);
        else if (kind == "down") fill(le.down, t.name, H, I, 0, per_expert);
        else {
            fill(le.gate, t.name, I, H, 0, per_expert / 2);
            fill(le.up, t.name, I, H, per_expert / 2, per_expert / 2);
        }
    }
    for (int64_t l = c.n_dense_layers; l < c.n_layers; ++l) {
        const LayerExperts& le = desc.experts[size_t(l)];
        const char* kinds[] = {"gate", "up", "down"};
        int i = 0;
        for (auto* p : {&le.gate, &le.up, &le.down}) {
            if (p->experts.empty()) fail("{}: missing tensor blk.{}.ffn_{}_exps.weight", path, l, kinds[i]);
            ++i;
        }
    }
    return desc;
}

}  // namespace sluice
