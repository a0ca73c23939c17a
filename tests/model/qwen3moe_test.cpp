// End-to-end logits and greedy tokens of Qwen3-MoE against the transformers references.
#include <gtest/gtest.h>

#include "reference_check.h"
#include "test_support.h"

namespace sluice {
namespace {

// Max |logit − reference| measured: 1.31e-6 (prompts a, b; HF folder and GGUF alike) and 2.35e-6
// (the 300-token prompt); the bounds are about 10× that, so a wrong constant (an RMSNorm epsilon
// of 1e-5 for 1e-6 moves the logits by 7.6e-4) fails.
constexpr float kLogitsTolerance = 1.5e-5f;
constexpr float kLongTolerance = 2.5e-5f;

test::Reference reference() { return test::Reference(test::fixture("models/qwen3moe-tiny/reference.safetensors")); }

TEST(Qwen3Moe, HfFolderMatchesReference) {
    test::LoadedModel m(test::fixture("models/qwen3moe-tiny"));
    test::check_reference_case(*m.model, reference(), "a", kLogitsTolerance);
    test::check_reference_case(*m.model, reference(), "b", kLogitsTolerance);
}

TEST(Qwen3Moe, LlamaCppGgufMatchesReference) {
    test::LoadedModel m(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    test::check_reference_case(*m.model, reference(), "a", kLogitsTolerance);
    test::check_reference_case(*m.model, reference(), "b", kLogitsTolerance);
}

// A 300-token prompt: several prefill batches' worth of KV cache and RoPE positions.
TEST(Qwen3Moe, LongPromptMatchesReference) {
    test::LoadedModel m(test::fixture("models/qwen3moe-tiny"));
    test::check_long_reference(*m.model, test::Reference(test::source_dir() + "/tests/data/qwen3moe-tiny-long/reference.safetensors"), kLongTolerance);
}

}  // namespace
}  // namespace sluice
