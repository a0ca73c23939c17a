// End-to-end logits and greedy tokens of GLM-4.5 (glm4moe-tiny: partial RoPE, q/k norms,
// attention biases, a dense first layer, sigmoid routing with correction bias and routed scale,
// a shared expert) against the transformers references.
#include <gtest/gtest.h>

#include "reference_check.h"
#include "test_support.h"

namespace sluice {
namespace {

// Max |logit − reference| measured: 2.8e-6 (prompts a, b; HF folder and GGUF alike); the bound is
// about 10× that.
constexpr float kLogitsTolerance = 3e-5f;

test::Reference reference() { return test::Reference(test::fixture("models/glm4moe-tiny/reference.safetensors")); }

TEST(Glm4Moe, HfFolderMatchesReference) {
    test::LoadedModel m(test::fixture("models/glm4moe-tiny"));
    test::check_reference_case(*m.model, reference(), "a", kLogitsTolerance);
    test::check_reference_case(*m.model, reference(), "b", kLogitsTolerance);
}

TEST(Glm4Moe, LlamaCppGgufMatchesReference) {
    test::LoadedModel m(test::fixture("gguf/glm4moe-tiny-f32.gguf"));
    test::check_reference_case(*m.model, reference(), "a", kLogitsTolerance);
    test::check_reference_case(*m.model, reference(), "b", kLogitsTolerance);
}

}  // namespace
}  // namespace sluice
