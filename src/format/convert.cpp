#include "format/convert.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "format/qwen35_transform.h"
#include "util/error.h"

namespace sluice {

namespace {

// llama.cpp's glm4moe / deepseek2 keys (what format/gguf_model.cpp reads back); deepseek2 in the
// absorbed form of its current converter (attn_k_b / attn_v_b, one latent KV head).
void write_deepseek_family_metadata(GgufWriter& w, const ModelConfig& c) {
    const std::string a = arch_name(c.arch);
    w.set_u32(a + ".leading_dense_block_count", uint32_t(c.n_dense_layers));
    w.set_u32(a + ".expert_shared_count", uint32_t(c.expert_ffn ? c.shared_expert_ffn / c.expert_ffn : 0));
    w.set_u32(a + ".expert_gating_func", 2);   // sigmoid
    w.set_f32(a + ".expert_weights_scale", c.routed_scale);
    w.set_bool(a + ".expert_weights_norm", c.norm_topk_prob);
    w.set_u32(a + ".expert_group_count", uint32_t(c.expert_groups));
    w.set_u32(a + ".expert_group_used_count", uint32_t(c.expert_groups_used));
    if (c.arch != Arch::DeepSeek2) return;
    w.set_u32(a + ".attention.head_count_kv", 1);
    w.set_u32(a + ".attention.q_lora_rank", uint32_t(c.q_lora));
    w.set_u32(a + ".attention.kv_lora_rank", uint32_t(c.kv_lora));
    w.set_u32(a + ".attention.key_length", uint32_t(c.kv_lora + c.rope_dim));
    w.set_u32(a + ".attention.value_length", uint32_t(c.kv_lora));
    w.set_u32(a + ".attention.key_length_mla", uint32_t(c.head_dim));
    w.set_u32(a + ".attention.value_length_mla", uint32_t(c.v_head_dim));
    if (c.yarn.factor > 1) {
        w.set_string(a + ".rope.scaling.type", "yarn");
        w.set_f32(a + ".rope.scaling.factor", c.yarn.factor);
        w.set_u32(a + ".rope.scaling.original_context_length", uint32_t(c.yarn.original_context));
        w.set_f32(a + ".rope.scaling.yarn_beta_fast", c.yarn.beta_fast);
        w.set_f32(a + ".rope.scaling.yarn_beta_slow", c.yarn.beta_slow);
        w.set_f32(a + ".rope.scaling.yarn_log_multiplier", float((c.yarn.attn_mscale - 1) / std::log(double(c.yarn.factor))));
    }
}

}  // namespace

void write_arch_metadata(GgufWriter& w, const ModelConfig& c) {
    const std::string a = arch_name(c.arch);
    w.set_string("general.architecture", a);
    w.set_u32(a + ".block_count", uint32_t(c.n_layers));
    w.set_u32(a + ".context_length", uint32_t(c.context_length));
    w.set_u32(a + ".embedding_length", uint32_t(c.hidden));
    const bool deepseek_family = c.arch == Arch::Glm4Moe || c.arch == Arch::DeepSeek2;
    w.set_u32(a + ".feed_forward_length", uint32_t(deepseek_family ? c.dense_ffn : c.expert_ffn));
    w.set_u32(a + ".attention.head_count", uint32_t(c.n_heads));
    w.set_u32(a + ".attention.head_count_kv", uint32_t(c.n_kv_heads));
    w.set_u32(a + ".attention.key_length", uint32_t(c.head_dim));
    w.set_u32(a + ".attention.value_length", uint32_t(c.head_dim));
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", c.rms_eps);
    w.set_f32(a + ".rope.freq_base", c.rope_theta);
    w.set_u32(a + ".rope.dimension_count", uint32_t(c.rope_dim));
    w.set_u32(a + ".expert_count", uint32_t(c.n_experts));
    w.set_u32(a + ".expert_used_count", uint32_t(c.n_experts_used));
    w.set_u32(a + ".expert_feed_forward_length", uint32_t(c.expert_ffn));
    if (deepseek_family) {
        write_deepseek_family_metadata(w, c);
        return;
    }
    if (c.shared_expert_ffn) w.set_u32(a + ".expert_shared_feed_forward_length", uint32_t(c.shared_expert_ffn));
    if (c.arch == Arch::GptOss) {   // llama.cpp's gpt-oss keys (its sliding layers and clamp are fixed)
        w.set_u32(a + ".attention.sliding_window", uint32_t(c.sliding_window));
        if (c.yarn.factor > 0) {
            w.set_string(a + ".rope.scaling.type", "yarn");
            w.set_f32(a + ".rope.scaling.factor", c.yarn.factor);
            w.set_u32(a + ".rope.scaling.original_context_length", uint32_t(c.yarn.original_context));
            w.set_f32(a + ".rope.scaling.yarn_beta_fast", c.yarn.beta_fast);
            w.set_f32(a + ".rope.scaling.yarn_beta_slow", c.yarn.beta_slow);
        }
    } else if (c.arch != Arch::Qwen3Moe) {
        w.set_u32(a + ".ssm.conv_kernel", uint32_t(c.conv_kernel));
        w.set_u32(a + ".ssm.state_size", uint32_t(c.lin_k_dim));
        w.set_u32(a + ".ssm.group_count", uint32_t(c.lin_k_heads));
        w.set_u32(a + ".ssm.time_step_rank", uint32_t(c.lin_v_heads));
        w.set_u32(a + ".ssm.inner_size", uint32_t(c.lin_v_heads * c.lin_v_dim));
        int64_t interval = 0;
        for (int64_t i = 0; i < c.n_layers && !interval; ++i)
            if (!c.is_linear(i)) interval = i + 1;
        w.set_u32(a + ".full_attention_interval", uint32_t(interval ? interval : c.n_layers + 1));
    }
    if (c.arch == Arch::Qwen35Moe) {
        GgufArray sections{GgufValueType::I32, {}};
        // Interleaved M-RoPE sections of the released models; for text it equals plain RoPE.
        for (int v : {11, 11, 10, 0}) sections.items.push_back({GgufValueType::I32, int64_t(v)});
        w.set(a + ".rope.dimension_sections", {GgufValueType::ARRAY, sections});
    }
}

namespace {

uint32_t file_type_id(GgmlType t) {
    switch (t) {
        case GgmlType::F32: return 0;
        case GgmlType::F16: return 1;
        case GgmlType::Q4_0: return 2;
        case GgmlType::Q4_1: return 3;
        case GgmlType::Q8_0: return 7;
        case GgmlType::Q5_0: return 8;
        case GgmlType::Q5_1: return 9;
        case GgmlType::Q2_K: return 10;
        case GgmlType::Q3_K: return 12;
        case GgmlType::Q4_K: return 15;
        case GgmlType::Q5_K: return 17;
        case GgmlType::Q6_K: return 18;
        case GgmlType::IQ4_NL: return 25;
        case GgmlType::IQ4_XS: return 30;
        case GgmlType::MXFP4: return 38;   // LLAMA_FTYPE_MOSTLY_MXFP4_MOE
        case GgmlType::IQ2_XXS: return 19;
        case GgmlType::BF16: return 32;
        default: return 0;
    }
}

// Rows of a source tensor as float32, quantised to `type` into dst.
void convert_rows(const uint8_t* src, GgmlType src_type, int64_t cols, GgmlType type, uint8_t* dst, int64_t rows) {
    std::vector<float> buf(static_cast<size_t>(cols));
    const size_t in_rb = row_bytes(src_type, cols), out_rb = row_bytes(type, cols);
    for (int64_t r = 0; r < rows; ++r) {
        dequantize_row_ref(src_type, src + size_t(r) * in_rb, buf.data(), cols);
        quantize_row_ref(type, buf.data(), dst + size_t(r) * out_rb, cols);
    }
}

// Queues a tensor that llama.cpp's converter rewrites. The rewrite needs the whole tensor, so
// it is read as float32 when the writer reaches it and dropped once written: a large model's
// transformed tensors are never all in memory at once.
void add_transformed(GgufWriter& w, const ModelDesc& desc, const TensorRef& t, const ConvertOptions& options,
                     bool& quantized) {
    std::vector<int64_t> ne = {t.ne[0]};  // the rewrite drops conv1d's middle axis of 1
    for (size_t i = 1; i < t.ne.size(); ++i)
        if (t.ne[i] != 1) ne.push_back(t.ne[i]);
    const GgmlType type = choose_tensor_type(t.name, ne, options.type, options.q4_k_m, desc.config.n_layers);
    quantized |= type_info(type).block_size > 1;
    auto held = std::make_shared<DenseTensor>();
    w.add_tensor(t.name, ne, type, [&desc, &t, held, type](uint8_t* dst, int64_t r0, int64_t rows) {
        if (r0 == 0) {
            int64_t n = 1;
            for (int64_t d : t.ne) n *= d;
            *held = {t.name, t.ne, std::vector<float>(size_t(n))};
            convert_rows(desc.data(t), t.type, t.ne[0], GgmlType::F32, reinterpret_cast<uint8_t*>(held->data.data()),
                         n / t.ne[0]);
            qwen35_gguf_transform(desc.config, *held);
        }
        const int64_t cols = held->ne[0], total = int64_t(held->data.size()) / cols;
        convert_rows(reinterpret_cast<const uint8_t*>(held->data.data() + r0 * cols), GgmlType::F32, cols, type, dst,
                     rows);
        if (r0 + rows == total) *held = {};
    });
}

}  // namespace

void write_type_metadata(GgufWriter& w, GgmlType main_type, bool quantized) {
    w.set_u32("general.file_type", file_type_id(main_type));
    if (quantized) w.set_u32("general.quantization_version", 2);
}

namespace {

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Layer N of "blk.N.…"; -1 for tensors outside the layers.
int64_t layer_of(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return -1;
    return std::strtoll(name.c_str() + 4, nullptr, 10);
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third between.
bool more_bits_layer(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

GgmlType q4_k_m_type(const std::string& name, int64_t n_layers) {
    if (name == "output.weight") return GgmlType::Q6_K;
    const bool sensitive = contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight") || contains(name, "ffn_down");
    if (sensitive && more_bits_layer(layer_of(name), n_layers)) return GgmlType::Q6_K;
    return GgmlType::Q4_K;
}

// A type whose blocks divide a row of `cols` values (llama.cpp's tensor_type_fallback).
GgmlType fitting_type(GgmlType t, int64_t cols) {
    if (cols % type_info(t).block_size == 0) return t;
    switch (t) {
        case GgmlType::IQ4_XS: t = GgmlType::IQ4_NL; break;
        case GgmlType::Q2_K:
        case GgmlType::Q3_K: t = GgmlType::Q4_0; break;
        case GgmlType::Q4_K: t = GgmlType::Q5_0; break;
        case GgmlType::Q5_K: t = GgmlType::Q5_1; break;
        case GgmlType::Q6_K: t = GgmlType::Q8_0; break;
        default: break;
    }
    return cols % type_info(t).block_size == 0 ? t : GgmlType::F16;
}

}  // namespace

GgmlType choose_tensor_type(const std::string& name, const std::vector<int64_t>& ne, GgmlType wanted, bool q4_k_m,
                            int64_t n_layers) {
    if (ne.size() < 2 || contains(name, "ffn_gate_inp") || contains(name, "ssm_conv1d")) return GgmlType::F32;
    return fitting_type(q4_k_m ? q4_k_m_type(name, n_layers) : wanted, ne[0]);
}

void convert_to_gguf(const ModelDesc& desc, const std::string& out_path, const ConvertOptions& options,
                     const GgufWriter::Progress& progress) {
    const ModelConfig& c = desc.config;
    if (c.arch == Arch::GptOss)
        fail("convert: {}: gpt-oss is not supported yet (llama.cpp's convert_hf_to_gguf.py writes its GGUF)", desc.path);
    if (c.arch == Arch::Glm4Moe || c.arch == Arch::DeepSeek2)
        fail("convert: {}: {} models cannot be converted yet (llama.cpp's convert_hf_to_gguf.py writes them)", desc.path,
             arch_name(c.arch));
    for (GgmlType t : {options.type, options.expert_type.value_or(options.type)})
        if (!type_info(t).supported || !can_quantize(t))
            fail("convert: output type {} is not supported for writing", type_name(t));
    const bool expert_q4_k_m = options.expert_type ? options.expert_q4_k_m : options.q4_k_m;
    GgufWriter w;
    write_arch_metadata(w, c);
    w.set_string("general.name", std::filesystem::path(desc.path).filename().string());
    if (options.extra_metadata) options.extra_metadata(w);
    bool quantized = false;

    for (const auto& [name, t] : desc.tensors) {
        // GGUF sources of the hybrid architectures already carry llama.cpp's transforms.
        if (!desc.gguf && qwen35_needs_transform(c, name)) {
            add_transformed(w, desc, t, options, quantized);
            continue;
        }
        GgmlType type = choose_tensor_type(name, t.ne, options.type, options.q4_k_m, c.n_layers);
        quantized |= type_info(type).block_size > 1;
        const uint8_t* src = desc.data(t);
        const GgmlType src_type = t.type;
        const int64_t cols = t.ne[0];
        std::vector<int64_t> ne = t.ne;
        while (ne.size() > 1 && ne.back() == 1) ne.pop_back();  // GGUF squeezes [1, H] gates
        w.add_tensor(name, ne, type, [=](uint8_t* dst, int64_t r0, int64_t n) {
            convert_rows(src + size_t(r0) * row_bytes(src_type, cols), src_type, cols, type, dst, n);
        });
    }

    const GgmlType et = options.expert_type.value_or(options.type);
    for (int64_t l = 0; l < c.n_layers; ++l) {
        const LayerExperts& le = desc.experts[size_t(l)];
        const char* kinds[] = {"gate", "up", "down"};
        int k = 0;
        for (const ExpertProjection* p : {&le.gate, &le.up, &le.down}) {
            std::string name = "blk." + std::to_string(l) + ".ffn_" + kinds[k++] + "_exps.weight";
            std::vector<int64_t> ne = {p->cols, p->rows, c.n_experts};
            GgmlType type = choose_tensor_type(name, ne, et, expert_q4_k_m, c.n_layers);
            quantized |= type_info(type).block_size > 1;
            w.add_tensor(name, ne, type, [&desc, p, type](uint8_t* dst, int64_t r0, int64_t n) {
                const size_t out_rb = row_bytes(type, p->cols), in_rb = row_bytes(p->type, p->cols);
                for (int64_t r = r0; r < r0 + n;) {
                    int64_t e = r / p->rows, row = r % p->rows;
                    int64_t run = std::min(p->rows - row, r0 + n - r);
                    const auto& s = p->experts[size_t(e)];
                    const uint8_t* src = desc.files[size_t(s.file)]->range(s.offset, s.bytes, p->name) + size_t(row) * in_rb;
                    convert_rows(src, p->type, p->cols, type, dst + size_t(r - r0) * out_rb, run);
                    r += run;
                }
            });
        }
    }
    write_type_metadata(w, options.type, quantized);
    w.write(out_path, progress);
}

}  // namespace sluice
