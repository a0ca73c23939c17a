// The released configs of DeepSeek-V3, Kimi-K2 and GLM-4.6 (tests/data/released-configs): read
// through the same code as the tiny fixtures, and equal to `sluice synth`'s built-in geometries.
#include <gtest/gtest.h>

#include <cmath>

#include "format/synth.h"
#include "test_support.h"

namespace sluice {
namespace {

ModelConfig released(const std::string& name) {
    return parse_hf_config(test::source_dir() + "/tests/data/released-configs/" + name + ".json");
}

void expect_same_geometry(const ModelConfig& a, const ModelConfig& b) {
    EXPECT_EQ(a.arch, b.arch);
    EXPECT_EQ(a.vocab_size, b.vocab_size);
    EXPECT_EQ(a.hidden, b.hidden);
    EXPECT_EQ(a.n_layers, b.n_layers);
    EXPECT_EQ(a.n_heads, b.n_heads);
    EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
    EXPECT_EQ(a.head_dim, b.head_dim);
    EXPECT_EQ(a.rope_dim, b.rope_dim);
    EXPECT_FLOAT_EQ(a.rope_theta, b.rope_theta);
    EXPECT_FLOAT_EQ(a.rms_eps, b.rms_eps);
    EXPECT_EQ(a.context_length, b.context_length);
    EXPECT_EQ(a.n_experts, b.n_experts);
    EXPECT_EQ(a.n_experts_used, b.n_experts_used);
    EXPECT_EQ(a.expert_ffn, b.expert_ffn);
    EXPECT_EQ(a.shared_expert_ffn, b.shared_expert_ffn);
    EXPECT_EQ(a.gating, b.gating);
    EXPECT_EQ(a.expert_groups, b.expert_groups);
    EXPECT_EQ(a.expert_groups_used, b.expert_groups_used);
    EXPECT_FLOAT_EQ(a.routed_scale, b.routed_scale);
    EXPECT_EQ(a.n_dense_layers, b.n_dense_layers);
    EXPECT_EQ(a.dense_ffn, b.dense_ffn);
    EXPECT_EQ(a.q_lora, b.q_lora);
    EXPECT_EQ(a.kv_lora, b.kv_lora);
    EXPECT_EQ(a.qk_nope, b.qk_nope);
    EXPECT_EQ(a.v_head_dim, b.v_head_dim);
    EXPECT_FLOAT_EQ(a.yarn.factor, b.yarn.factor);
    EXPECT_EQ(a.yarn.original_context, b.yarn.original_context);
    EXPECT_FLOAT_EQ(a.yarn.beta_fast, b.yarn.beta_fast);
    EXPECT_FLOAT_EQ(a.yarn.beta_slow, b.yarn.beta_slow);
    EXPECT_FLOAT_EQ(a.yarn.rope_scale, b.yarn.rope_scale);
    EXPECT_FLOAT_EQ(a.yarn.attn_mscale, b.yarn.attn_mscale);
}

TEST(ReleasedGeometry, SynthGeometriesEqualTheReleasedConfigs) {
    for (const char* name : {"deepseek-v3", "kimi-k2", "glm-4.6"}) {
        SCOPED_TRACE(name);
        expect_same_geometry(synth_geometry(name), released(name));
    }
}

// Kimi-K2 is DeepSeek-V3's architecture under its own model_type: more experts (384), half the
// heads (64), one expert group, and a YaRN factor of 32 whose mscale_all_dim of 1 makes the
// softmax scale (0.1·ln 32 + 1)² / √192.
TEST(ReleasedGeometry, KimiK2RunsAsDeepSeekV3) {
    const ModelConfig c = released("kimi-k2");
    EXPECT_EQ(c.arch, Arch::DeepSeek2);
    EXPECT_TRUE(c.is_mla());
    EXPECT_EQ(c.n_experts, 384);
    EXPECT_EQ(c.n_heads, 64);
    EXPECT_EQ(c.expert_groups, 1);
    EXPECT_EQ(c.n_dense_layers, 1);
    EXPECT_EQ(c.head_dim, 192);
    EXPECT_EQ(c.kv_lora + c.rope_dim, 576);   // cached values per token and layer
    EXPECT_FLOAT_EQ(c.yarn.rope_scale, 1.0f);   // mscale / mscale_all_dim
    EXPECT_NEAR(c.yarn.attn_mscale, 0.1 * std::log(32.0) + 1, 1e-6);
    EXPECT_FLOAT_EQ(c.routed_scale, 2.827f);
}

}  // namespace
}  // namespace sluice
