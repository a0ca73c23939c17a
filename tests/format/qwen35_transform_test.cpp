// The Hugging Face tiny Qwen3.5-MoE, transformed tensor by tensor, must equal what llama.cpp's own
// converter wrote into the GGUF fixture.
#include <gtest/gtest.h>

#include <cmath>

#include "error_bound.h"
#include "format/qwen35_transform.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

DenseTensor read_dense(const ModelDesc& desc, const TensorRef& t) {
    DenseTensor d{t.name, t.ne, {}};
    int64_t n = 1;
    for (int64_t x : t.ne) n *= x;
    d.data.resize(size_t(n));
    dequantize_row_ref(t.type, desc.data(t), d.data.data(), n);
    return d;
}

std::vector<int64_t> squeezed(std::vector<int64_t> ne) {
    while (ne.size() > 1 && ne.back() == 1) ne.pop_back();
    return ne;
}

TEST(Qwen35Transform, HfTensorsBecomeLlamaCppTensors) {
    ModelDesc hf = ModelDesc::open(test::fixture("models/qwen35moe-tiny"));
    ModelDesc gguf = ModelDesc::open(test::fixture("gguf/qwen35moe-tiny-f32.gguf"));
    ASSERT_NE(hf.config.lin_v_heads, hf.config.lin_k_heads);  // otherwise the reorder is the identity
    int transformed = 0;
    for (const auto& [name, ref] : hf.tensors) {
        SCOPED_TRACE(name);
        DenseTensor t = read_dense(hf, ref);
        if (qwen35_needs_transform(hf.config, name)) ++transformed;
        qwen35_gguf_transform(hf.config, t);
        const TensorRef* want_ref = gguf.find(name);
        ASSERT_NE(want_ref, nullptr);
        DenseTensor want = read_dense(gguf, *want_ref);
        ASSERT_EQ(squeezed(t.ne), squeezed(want.ne));
        ASSERT_EQ(t.data.size(), want.data.size());
        float worst = 0;
        for (size_t i = 0; i < t.data.size(); ++i)
            worst = test::worse(worst, std::fabs(t.data[i] - want.data[i]) / std::max(1.0f, std::fabs(want.data[i])));
        EXPECT_LE(worst, 1e-6f);
    }
    // 3 linear layers × 8 rewritten tensors + 4 layers × 2 norms + q/k norms + output norm.
    EXPECT_EQ(transformed, 3 * 8 + 4 * 2 + 2 + 1);
}

TEST(Qwen35Transform, OtherArchitecturesAndTensorsAreUntouched) {
    ModelConfig c;
    c.arch = Arch::Qwen3Moe;
    EXPECT_FALSE(qwen35_needs_transform(c, "blk.0.attn_norm.weight"));
    c.arch = Arch::Qwen3Next;
    c.lin_k_heads = 2;
    c.lin_v_heads = 4;
    EXPECT_TRUE(qwen35_needs_transform(c, "output_norm.weight"));
    EXPECT_TRUE(qwen35_needs_transform(c, "blk.2.ssm_a"));
    EXPECT_FALSE(qwen35_needs_transform(c, "blk.2.ssm_out.weight"));   // Qwen3-Next keeps grouped order
    EXPECT_FALSE(qwen35_needs_transform(c, "blk.2.ssm_norm.weight"));  // a plain multiplier
    DenseTensor t{"blk.0.attn_norm.weight", {3}, {0.0f, 0.5f, -1.0f}};
    qwen35_gguf_transform(c, t);
    EXPECT_EQ(t.data, (std::vector<float>{1.0f, 1.5f, 0.0f}));
}

TEST(Qwen35Transform, WrongShapeIsNamed) {
    ModelConfig c;
    c.arch = Arch::Qwen35Moe;
    c.hidden = 4;
    c.lin_k_heads = 1;
    c.lin_v_heads = 2;
    c.lin_k_dim = c.lin_v_dim = 2;
    c.conv_kernel = 4;
    DenseTensor t{"blk.1.ssm_dt.bias", {3}, {0, 0, 0}};
    try {
        qwen35_gguf_transform(c, t);
        FAIL() << "a 3-entry ssm_dt.bias for 2 v-heads was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("blk.1.ssm_dt.bias"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace sluice
