// `sluice convert` of the hybrid models: the GGUF it writes carries llama.cpp's transforms
// (norm offsets, −exp(A_log), squeezed conv, tiled v-heads for qwen35moe), and reading it back
// gives the reference logits and tokens.
#include <gtest/gtest.h>

#include "format/convert.h"
#include "reference_check.h"
#include "test_support.h"

namespace sluice {
namespace {


struct Case {
    std::string dir;     // Hugging Face folder
    Arch arch;
    float tolerance;     // max |logit − reference|, from what the architecture measures (tests/model/*_test.cpp)
};

std::vector<Case> cases() {
    // Measured on both f32 and bf16 conversions (lossless: the folders hold bf16): 9.7e-5 and 4.9e-4.
    return {{test::fixture("models/qwen35moe-tiny"), Arch::Qwen35Moe, 1e-3f},
            {test::fixture("models/qwen35moe-tiny-published"), Arch::Qwen35Moe, 1e-3f},
            {test::source_dir() + "/tests/data/qwen3next-tiny", Arch::Qwen3Next, 1e-3f}};
}

TEST(ConvertedGguf, HybridModelsMatchTheReference) {
    test::TempDir tmp;
    for (const Case& c : cases()) {
        for (GgmlType type : {GgmlType::F32, GgmlType::BF16}) {
            SCOPED_TRACE(c.dir + " " + type_name(type));
            const std::string out = tmp.file("m.gguf");
            ConvertOptions options;
            options.type = type;
            convert_to_gguf(ModelDesc::open(c.dir), out, options);

            test::LoadedModel m(out);
            EXPECT_EQ(m.desc.config.arch, c.arch);
            EXPECT_TRUE(m.desc.conventions.norm_has_unit_offset);
            EXPECT_EQ(m.desc.conventions.v_heads_tiled, c.arch == Arch::Qwen35Moe);
            EXPECT_EQ(m.desc.find("blk.0.ssm_conv1d.weight")->ne.size(), 2u);
            test::Reference ref(c.dir + "/reference.safetensors");
            test::check_reference_case(*m.model, ref, "a", c.tolerance);
            test::check_reference_case(*m.model, ref, "b", c.tolerance);
        }
    }
}

}  // namespace
}  // namespace sluice
