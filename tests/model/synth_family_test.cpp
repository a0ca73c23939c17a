// `sluice synth` for GLM-4.5 and DeepSeek-V3 geometries writes GGUFs in llama.cpp's glm4moe /
// deepseek2 conventions that read back as the same model and run; `convert` refuses these
// families (llama.cpp's converter writes them).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "format/convert.h"
#include "format/synth.h"
#include "model/model.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

TEST(SynthFamilies, TinyGeometriesReadBackAndRun) {
    test::TempDir tmp;
    for (const char* family : {"glm4moe", "deepseek3"}) {
        SCOPED_TRACE(family);
        const ModelConfig want = parse_hf_config(test::fixture(std::string("models/") + family + "-tiny/config.json"));
        SynthOptions so;
        so.type = GgmlType::F32;
        const std::string path = tmp.file(std::string(family) + ".gguf");
        write_synthetic_gguf(want, path, so);
        const ModelDesc desc = ModelDesc::open(path);
        const ModelConfig& c = desc.config;
        EXPECT_EQ(c.arch, want.arch);
        EXPECT_EQ(c.n_dense_layers, want.n_dense_layers);
        EXPECT_EQ(c.dense_ffn, want.dense_ffn);
        EXPECT_EQ(c.shared_expert_ffn, want.shared_expert_ffn);
        EXPECT_EQ(c.expert_groups, want.expert_groups);
        EXPECT_EQ(c.expert_groups_used, want.expert_groups_used);
        EXPECT_FLOAT_EQ(c.routed_scale, want.routed_scale);
        EXPECT_EQ(c.head_dim, want.head_dim);
        EXPECT_EQ(c.rope_dim, want.rope_dim);
        EXPECT_EQ(c.kv_lora, want.kv_lora);
        EXPECT_EQ(c.v_head_dim, want.v_head_dim);
        EXPECT_FLOAT_EQ(c.yarn.factor, want.yarn.factor);
        EXPECT_NEAR(c.yarn.attn_mscale, want.yarn.attn_mscale, 1e-6);
        EXPECT_TRUE(desc.experts[0].empty());
        EXPECT_FALSE(desc.experts[1].empty());

        MappedExperts experts(desc, false);
        auto model = load_model(desc, experts);
        auto state = model->new_state(8);
        const int32_t tokens[] = {1, 2, 3};
        std::vector<float> logits(size_t(c.vocab_size));
        model->forward(*state, tokens, 3, logits.data(), false);
        for (float x : logits) ASSERT_TRUE(std::isfinite(x));

        EXPECT_THROW(convert_to_gguf(ModelDesc::open(test::fixture(std::string("models/") + family + "-tiny")),
                                     tmp.file("x.gguf"), {}),
                     Error);
    }
}

// Metadata that the engine cannot run is refused in one line naming the file and the key.
TEST(SynthFamilies, BadFamilyMetadataIsRefused) {
    test::TempDir tmp;
    const ModelConfig c = parse_hf_config(test::fixture("models/deepseek3-tiny/config.json"));
    auto error_with = [&](const std::function<void(GgufWriter&)>& edit) -> std::string {
        SynthOptions so;
        so.type = GgmlType::F32;
        so.extra_metadata = edit;
        write_synthetic_gguf(c, tmp.file("bad.gguf"), so);
        try {
            ModelDesc::open(tmp.file("bad.gguf"));
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    std::string e = error_with([](GgufWriter& w) { w.set_u32("deepseek2.expert_gating_func", 1); });
    EXPECT_NE(e.find("bad.gguf: deepseek2.expert_gating_func 1 is not supported"), std::string::npos) << e;
    e = error_with([](GgufWriter& w) { w.set_u32("deepseek2.expert_group_count", 3); });
    EXPECT_NE(e.find("deepseek2.expert_group_count 3 and expert_group_used_count 2 do not divide 16 experts"),
              std::string::npos)
        << e;
    e = error_with([](GgufWriter& w) { w.set_u32("deepseek2.leading_dense_block_count", 9); });
    EXPECT_NE(e.find("deepseek2.leading_dense_block_count 9 is more than the 4 layers"), std::string::npos) << e;
    e = error_with([](GgufWriter& w) { w.set_string("deepseek2.rope.scaling.type", "longrope"); });
    EXPECT_NE(e.find("deepseek2.rope.scaling.type \"longrope\" is not supported"), std::string::npos) << e;
}

}  // namespace
}  // namespace sluice
