// End-to-end logits and greedy tokens of DeepSeek-V3 (deepseek3-tiny: latent attention with q
// LoRA, YaRN and interleaved RoPE; a dense first layer; 4 expert groups of which 2 are kept,
// sigmoid routing with correction bias and routed scale; a shared expert) against the
// transformers references. The HF folder has kv_b_proj (split and transposed at load), the GGUF
// llama.cpp's attn_k_b / attn_v_b.
#include <gtest/gtest.h>

#include "reference_check.h"
#include "test_support.h"

namespace sluice {
namespace {

// Max |logit − reference| measured: 5.3e-6 and 6.1e-6 (prompts a, b; HF folder and GGUF alike);
// the bound is about 10× that.
constexpr float kLogitsTolerance = 6e-5f;

test::Reference reference() { return test::Reference(test::fixture("models/deepseek3-tiny/reference.safetensors")); }

TEST(DeepSeek3, HfFolderMatchesReference) {
    test::LoadedModel m(test::fixture("models/deepseek3-tiny"));
    test::check_reference_case(*m.model, reference(), "a", kLogitsTolerance);
    test::check_reference_case(*m.model, reference(), "b", kLogitsTolerance);
}

TEST(DeepSeek3, LlamaCppGgufMatchesReference) {
    test::LoadedModel m(test::fixture("gguf/deepseek3-tiny-f32.gguf"));
    test::check_reference_case(*m.model, reference(), "a", kLogitsTolerance);
    test::check_reference_case(*m.model, reference(), "b", kLogitsTolerance);
}

}  // namespace
}  // namespace sluice
