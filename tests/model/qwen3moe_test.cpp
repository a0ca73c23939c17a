// End-to-end logits and greedy tokens of Qwen3-MoE against the transformers references.
#include <gtest/gtest.h>

#include "reference_check.h"
#include "test_support.h"

namespace sluice {
namespace {

test::Reference reference() { return test::Reference(test::fixture("models/qwen3moe-tiny/reference.safetensors")); }

TEST(Qwen3Moe, HfFolderMatchesReference) {
    test::LoadedModel m(test::fixture("models/qwen3moe-tiny"));
    test::check_reference_case(*m.model, reference(), "a");
    test::check_reference_case(*m.model, reference(), "b");
}

TEST(Qwen3Moe, LlamaCppGgufMatchesReference) {
    test::LoadedModel m(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    test::check_reference_case(*m.model, reference(), "a");
    test::check_reference_case(*m.model, reference(), "b");
}

// A 300-token prompt: several prefill batches' worth of KV cache and RoPE positions.
TEST(Qwen3Moe, LongPromptMatchesReference) {
    test::LoadedModel m(test::fixture("models/qwen3moe-tiny"));
    test::check_long_reference(*m.model, test::Reference(test::source_dir() + "/tests/data/qwen3moe-tiny-long/reference.safetensors"));
}

}  // namespace
}  // namespace sluice
