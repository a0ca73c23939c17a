// The gpt-oss-120b geometry of `sluice synth` against openai/gpt-oss-120b's config.json, and the
// size of its MXFP4 experts (llama.cpp's GGUF of the release is 63 GB, experts ≈ 61 GB of it).
#include <gtest/gtest.h>

#include "format/synth.h"

namespace sluice {
namespace {

TEST(SynthGeometry, GptOss120bIsTheReleasedConfig) {
    const ModelConfig c = synth_geometry("gpt-oss-120b");
    EXPECT_EQ(c.arch, Arch::GptOss);
    EXPECT_EQ(c.vocab_size, 201088);
    EXPECT_EQ(c.hidden, 2880);
    EXPECT_EQ(c.n_layers, 36);
    EXPECT_EQ(c.n_heads, 64);
    EXPECT_EQ(c.n_kv_heads, 8);
    EXPECT_EQ(c.head_dim, 64);
    EXPECT_EQ(c.n_experts, 128);
    EXPECT_EQ(c.n_experts_used, 4);
    EXPECT_EQ(c.expert_ffn, 2880);
    EXPECT_EQ(c.sliding_window, 128);
    EXPECT_TRUE(c.is_sliding(0));
    EXPECT_FALSE(c.is_sliding(35));
    EXPECT_EQ(c.yarn.factor, 32.0f);
    EXPECT_EQ(c.yarn.original_context, 4096);
    EXPECT_FALSE(c.yarn.truncate);
    EXPECT_EQ(c.swiglu_limit, 7.0f);
    const uint64_t expert_bytes = uint64_t(c.n_layers * c.n_experts * 3) * row_bytes(GgmlType::MXFP4, c.hidden) * uint64_t(c.expert_ffn);
    EXPECT_EQ(expert_bytes, 60'914'073'600u);
}

}  // namespace
}  // namespace sluice
