// config.json of the supported Hugging Face architectures (model-spec §A.1, §B.1).
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "util/limits.h"
#include "format/model_desc.h"
#include "util/error.h"

namespace sluice {

using nlohmann::json;

namespace {

class ConfigReader {
public:
    ConfigReader(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

    bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

    int64_t integer(const char* key) const {
        if (!has(key)) fail("{}: missing field \"{}\"", path_, key);
        if (!j_[key].is_number_integer()) fail("{}: field \"{}\" must be an integer", path_, key);
        int64_t v = j_[key].get<int64_t>();
        if (v < 0) fail("{}: field \"{}\" is negative", path_, key);
        return v;
    }
    int64_t integer(const char* key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }

    double number(const char* key) const {
        if (!has(key)) fail("{}: missing field \"{}\"", path_, key);
        if (!j_[key].is_number()) fail("{}: field \"{}\" must be a number", path_, key);
        return j_[key].get<double>();
    }
    double number(const char* key, double fallback) const { return has(key) ? number(key) : fallback; }

    bool boolean(const char* key, bool fallback) const {
        if (!has(key)) return fallback;
        if (!j_[key].is_boolean()) fail("{}: field \"{}\" must be true or false", path_, key);
        return j_[key].get<bool>();
    }

    // A token id field may be an integer, a list (first entry) or null.
    int64_t token(const char* key) const {
        if (!has(key)) return -1;
        const json& v = j_[key];
        if (v.is_number_integer()) return v.get<int64_t>();
        if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
        fail("{}: field \"{}\" must be a token id", path_, key);
    }

    const json& raw() const { return j_; }
    const std::string& path() const { return path_; }

private:
    const json& j_;
    std::string path_;
};

// GLM-4.5 and DeepSeek-V3 share the MoE block: sigmoid scores with a correction bias, group-limited
// top-k, a routed scale, shared experts and leading dense layers.
void read_deepseek_family(const ConfigReader& r, ModelConfig& c) {
    if (r.has("scoring_func") && r.raw()["scoring_func"] != "sigmoid")
        fail("{}: scoring_func {} is not supported (only sigmoid, as DeepSeek-V3 and GLM-4.5 release)", r.path(),
             r.raw()["scoring_func"].dump());
    if (r.has("topk_method") && r.raw()["topk_method"] != "noaux_tc")
        fail("{}: topk_method {} is not supported (only noaux_tc)", r.path(), r.raw()["topk_method"].dump());
    c.gating = Gating::Sigmoid;
    c.n_experts = r.integer("n_routed_experts");
    c.shared_expert_ffn = r.integer("n_shared_experts", 0) * c.expert_ffn;
    c.n_dense_layers = r.integer("first_k_dense_replace", 0);
    c.dense_ffn = r.integer("intermediate_size");
    c.expert_groups = r.integer("n_group", 1);
    c.expert_groups_used = r.integer("topk_group", 1);
    c.routed_scale = float(r.number("routed_scaling_factor", 1.0));
    if (c.n_dense_layers > c.n_layers)
        fail("{}: first_k_dense_replace {} is more than the {} layers", r.path(), c.n_dense_layers, c.n_layers);
    if (c.expert_groups == 0 || c.n_experts % c.expert_groups != 0 || c.expert_groups_used == 0 ||
        c.expert_groups_used > c.expert_groups)
        fail("{}: n_group {} must divide n_routed_experts {} and topk_group {} be between 1 and n_group", r.path(),
             c.expert_groups, c.n_experts, c.expert_groups_used);
    if (c.expert_groups > 1 && c.n_experts / c.expert_groups < 2)
        fail("{}: n_group {} leaves fewer than 2 experts per group (a group scores its best two)", r.path(),
             c.expert_groups);
}

// transformers' YaRN parameters (rope_utils: _compute_yarn_parameters): `truncate` (default
// true), the attention factor (given; else DeepSeek's mscale pair; else 0.1·ln(factor) + 1) and
// DeepSeek-V3's softmax-scale factor.
Yarn read_yarn(const ConfigReader& r, const char* key) {
    Yarn y;
    y.factor = float(r.number("factor"));
    y.original_context = r.integer("original_max_position_embeddings");
    y.beta_fast = float(r.number("beta_fast", 32));
    y.beta_slow = float(r.number("beta_slow", 1));
    y.truncate = r.boolean("truncate", true);
    if (y.factor < 1 || y.original_context == 0)
        fail("{}: {}: YaRN needs factor ≥ 1 and original_max_position_embeddings > 0", r.path(), key);
    auto mscale = [&](double m) { return y.factor <= 1 ? 1.0 : 0.1 * m * std::log(double(y.factor)) + 1.0; };
    const double m = r.number("mscale", 0), m_all = r.number("mscale_all_dim", 0);
    if (r.has("attention_factor")) y.rope_scale = float(r.number("attention_factor"));
    else y.rope_scale = float(m != 0 && m_all != 0 ? mscale(m) / mscale(m_all) : mscale(1));
    // DeepSeek-V3's attention multiplies its softmax scale by mscale(mscale_all_dim)².
    y.attn_mscale = float(m_all != 0 ? mscale(m_all) : 1.0);
    return y;
}

// gpt-oss: layer_types of sliding_attention / full_attention, the window, the SwiGLU clamp;
// routing is always a softmax over the chosen experts.
void read_gpt_oss(const ConfigReader& r, ModelConfig& c) {
    c.gating = Gating::SoftmaxOfChosen;
    c.norm_topk_prob = true;
    c.sliding_window = r.integer("sliding_window");
    if (c.sliding_window == 0) fail("{}: sliding_window must be positive", r.path());
    c.swiglu_limit = float(r.number("swiglu_limit", 7.0));
    if (!(c.swiglu_limit > 0)) fail("{}: swiglu_limit must be positive", r.path());
    c.sliding_layer.assign(size_t(c.n_layers), false);
    if (!r.has("layer_types")) {
        for (int64_t l = 0; l < c.n_layers; l += 2) c.sliding_layer[size_t(l)] = true;   // the released pattern
        return;
    }
    const json& lt = r.raw()["layer_types"];
    if (!lt.is_array() || int64_t(lt.size()) != c.n_layers) fail("{}: layer_types must list {} entries", r.path(), c.n_layers);
    for (size_t i = 0; i < lt.size(); ++i) {
        const std::string s = lt[i].is_string() ? lt[i].get<std::string>() : "";
        if (s != "sliding_attention" && s != "full_attention")
            fail("{}: layer_types[{}] \"{}\" is not sliding_attention or full_attention", r.path(), i, s);
        c.sliding_layer[i] = s == "sliding_attention";
    }
}

// Multi-head latent attention's geometry; head_dim becomes the query/key width per head.
void read_mla(const ConfigReader& r, ModelConfig& c) {
    c.q_lora = r.integer("q_lora_rank", 0);
    c.kv_lora = r.integer("kv_lora_rank");
    c.qk_nope = r.integer("qk_nope_head_dim");
    c.rope_dim = r.integer("qk_rope_head_dim");
    c.v_head_dim = r.integer("v_head_dim");
    c.head_dim = c.qk_nope + c.rope_dim;
    c.n_kv_heads = c.n_heads;
    if (c.q_lora == 0) fail("{}: q_lora_rank must be set (DeepSeek-V2-Lite's uncompressed query is not supported)", r.path());
    if (c.kv_lora == 0 || c.rope_dim == 0 || c.rope_dim % 2 != 0 || c.v_head_dim == 0)
        fail("{}: kv_lora_rank, v_head_dim and an even qk_rope_head_dim must be positive", r.path());
    if (r.has("rope_interleave") && !r.raw()["rope_interleave"].get<bool>())
        fail("{}: rope_interleave false is not supported (DeepSeek-V3 rotates adjacent pairs)", r.path());
}

ModelConfig read_config(const json& root, const std::string& path) {
    // Multimodal releases keep the language model's config under text_config.
    const json& text = root.contains("text_config") && root["text_config"].is_object() ? root["text_config"] : root;
    ConfigReader r(text, path);

    std::string type = text.value("model_type", root.value("model_type", std::string()));
    ModelConfig c;
    if (type == "qwen3_moe") c.arch = Arch::Qwen3Moe;
    else if (type == "qwen3_5_moe" || type == "qwen3_5_moe_text") c.arch = Arch::Qwen35Moe;
    else if (type == "qwen3_next") c.arch = Arch::Qwen3Next;
    else if (type == "gpt_oss") c.arch = Arch::GptOss;
    else if (type == "glm4_moe") c.arch = Arch::Glm4Moe;
    else if (type == "deepseek_v3" || type == "kimi_k2") c.arch = Arch::DeepSeek2;
    else
        fail("{}: unknown architecture model_type \"{}\" (supported: qwen3_moe, qwen3_5_moe, qwen3_next, gpt_oss, "
             "glm4_moe, deepseek_v3, kimi_k2)",
             path, type);
    const bool deepseek_family = c.arch == Arch::Glm4Moe || c.arch == Arch::DeepSeek2;

    c.vocab_size = r.integer("vocab_size");
    c.hidden = r.integer("hidden_size");
    c.n_layers = r.integer("num_hidden_layers");
    if (c.n_layers > limits::kMaxLayers)
        fail("{}: num_hidden_layers {} is more than the limit of {}", path, c.n_layers, limits::kMaxLayers);
    if (c.vocab_size > limits::kMaxVocab)
        fail("{}: vocab_size {} is more than the limit of {}", path, c.vocab_size, limits::kMaxVocab);
    c.n_heads = r.integer("num_attention_heads");
    c.n_kv_heads = r.integer("num_key_value_heads", c.n_heads);
    c.head_dim = r.integer("head_dim", c.n_heads ? c.hidden / c.n_heads : 0);
    c.context_length = r.integer("max_position_embeddings", 4096);
    c.rms_eps = float(r.number("rms_norm_eps", 1e-6));
    c.n_experts = r.has("n_routed_experts")  ? r.integer("n_routed_experts")
                  : r.has("num_experts") ? r.integer("num_experts")
                                         : r.integer("num_local_experts");
    c.n_experts_used = r.integer("num_experts_per_tok");
    // gpt-oss calls the expert width intermediate_size (it has no dense FFN).
    c.expert_ffn = r.integer(c.arch == Arch::GptOss ? "intermediate_size" : "moe_intermediate_size");
    c.shared_expert_ffn = r.integer("shared_expert_intermediate_size", 0);
    c.norm_topk_prob = c.arch == Arch::Qwen35Moe ? true : r.boolean("norm_topk_prob", true);
    if (deepseek_family) read_deepseek_family(r, c);
    c.bos_token = r.token("bos_token_id");
    c.eos_token = r.token("eos_token_id");

    // RoPE: 4.x keeps rope_theta at the top; 5.x folds it into rope_parameters.
    double partial = r.number("partial_rotary_factor", 1.0);
    c.rope_theta = float(r.number("rope_theta", 0));
    for (const char* key : {"rope_parameters", "rope_scaling"}) {
        if (!r.has(key) || !text[key].is_object()) continue;
        const json& rp = text[key];
        std::string rope_type = rp.value("rope_type", rp.value("type", std::string("default")));
        if (rope_type == "yarn" && (c.arch == Arch::GptOss || c.arch == Arch::DeepSeek2))
            c.yarn = read_yarn(ConfigReader(rp, path), key);
        else if (rope_type != "default" && rope_type != "mrope")
            fail("{}: {}.rope_type \"{}\" is not supported (default RoPE, or YaRN for gpt-oss and DeepSeek-V3)", path,
                 key, rope_type);
        if (rp.contains("rope_theta") && rp["rope_theta"].is_number()) c.rope_theta = rp["rope_theta"].get<float>();
        if (rp.contains("partial_rotary_factor") && rp["partial_rotary_factor"].is_number())
            partial = rp["partial_rotary_factor"].get<double>();
    }
    if (c.rope_theta <= 0) fail("{}: missing field \"rope_theta\"", path);
    c.rope_dim = int64_t(std::lround(double(c.head_dim) * partial));
    if (c.is_mla()) read_mla(r, c);

    if (c.arch == Arch::GptOss) {
        read_gpt_oss(r, c);
    } else if (c.arch == Arch::Qwen3Moe) {
        int64_t step = r.integer("decoder_sparse_step", 1);
        bool dense_layers = r.has("mlp_only_layers") && !text["mlp_only_layers"].empty();
        if (step != 1 || dense_layers)
            fail("{}: dense (non-MoE) layers via decoder_sparse_step/mlp_only_layers are not supported", path);
    } else if (!deepseek_family) {
        c.lin_k_heads = r.integer("linear_num_key_heads");
        c.lin_v_heads = r.integer("linear_num_value_heads");
        c.lin_k_dim = r.integer("linear_key_head_dim");
        c.lin_v_dim = r.integer("linear_value_head_dim");
        c.conv_kernel = r.integer("linear_conv_kernel_dim");
        c.linear_layer.assign(size_t(c.n_layers), false);
        if (r.has("layer_types")) {
            const json& lt = text["layer_types"];
            if (!lt.is_array() || int64_t(lt.size()) != c.n_layers)
                fail("{}: layer_types must list {} entries", path, c.n_layers);
            for (size_t i = 0; i < lt.size(); ++i) {
                std::string s = lt[i].is_string() ? lt[i].get<std::string>() : "";
                if (s != "linear_attention" && s != "full_attention")
                    fail("{}: layer_types[{}] \"{}\" is not linear_attention or full_attention", path, i, s);
                c.linear_layer[i] = s == "linear_attention";
            }
        } else {
            int64_t interval = r.integer("full_attention_interval", 4);
            if (interval <= 0) fail("{}: full_attention_interval must be positive", path);
            for (int64_t i = 0; i < c.n_layers; ++i) c.linear_layer[size_t(i)] = (i + 1) % interval != 0;
        }
        if (c.lin_k_heads == 0 || c.lin_v_heads % c.lin_k_heads != 0)
            fail("{}: linear_num_value_heads {} is not a multiple of linear_num_key_heads {}", path, c.lin_v_heads,
                 c.lin_k_heads);
    }
    if (c.n_layers == 0 || c.hidden == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.n_heads % c.n_kv_heads != 0)
        fail("{}: inconsistent attention geometry ({} heads, {} kv heads)", path, c.n_heads, c.n_kv_heads);
    if (c.n_experts == 0 || c.n_experts_used == 0 || c.n_experts_used > c.n_experts)
        fail("{}: num_experts_per_tok {} must be between 1 and num_experts {}", path, c.n_experts_used, c.n_experts);
    return c;
}

}  // namespace

ModelConfig parse_hf_config(const std::string& path) {
    std::ifstream f(path);
    if (!f) fail("{}: cannot open (is this a Hugging Face model folder?)", path);
    json root;
    try {
        root = json::parse(f);
    } catch (const json::exception& e) {
        fail("{}: invalid JSON: {}", path, e.what());
    }
    if (!root.is_object()) fail("{}: expected a JSON object", path);
    // The reader checks the type of each field it takes; a value of the wrong type in a nested
    // object (rope_parameters, text_config) still comes out as one line naming the file.
    try {
        return read_config(root, path);
    } catch (const json::exception& e) {
        fail("{}: a field has the wrong type: {}", path, e.what());
    }
}

}  // namespace sluice
