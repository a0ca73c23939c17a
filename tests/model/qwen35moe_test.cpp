// End-to-end logits and greedy tokens of Qwen3.5-MoE against the transformers references, from
// both Hugging Face layouts and from llama.cpp's own GGUF conversion; the hybrid state carried
// across calls.
#include <gtest/gtest.h>

#include "reference_check.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

// Max |logit − reference| measured: 8.5e-5 (both HF layouts), 9.7e-5 (llama.cpp's GGUF), 4.2e-6
// (the long prompt, whose tail is far from the start); bounds about 10× that.
constexpr float kLogitsTolerance = 1e-3f;
constexpr float kLongTolerance = 5e-5f;

using test::check_reference_case;
using test::LoadedModel;

test::Reference reference() { return test::Reference(test::fixture("models/qwen35moe-tiny/reference.safetensors")); }

TEST(Qwen35Moe, HfFolderMatchesReference) {
    LoadedModel m(test::fixture("models/qwen35moe-tiny"));
    check_reference_case(*m.model, reference(), "a", kLogitsTolerance);
    check_reference_case(*m.model, reference(), "b", kLogitsTolerance);
}

TEST(Qwen35Moe, PublishedLayoutMatchesReference) {
    LoadedModel m(test::fixture("models/qwen35moe-tiny-published"));
    auto ref = test::Reference(test::fixture("models/qwen35moe-tiny-published/reference.safetensors"));
    check_reference_case(*m.model, ref, "a", kLogitsTolerance);
    check_reference_case(*m.model, ref, "b", kLogitsTolerance);
}

// Norms stored as 1 + w, ssm_a as −exp(A_log), v-heads in tiled order, conv1d squeezed.
TEST(Qwen35Moe, LlamaCppGgufMatchesReference) {
    LoadedModel m(test::fixture("gguf/qwen35moe-tiny-f32.gguf"));
    ASSERT_TRUE(m.desc.conventions.v_heads_tiled);
    check_reference_case(*m.model, reference(), "a", kLogitsTolerance);
    check_reference_case(*m.model, reference(), "b", kLogitsTolerance);
}

TEST(Qwen35Moe, LongPromptMatchesReference) {
    LoadedModel m(test::fixture("models/qwen35moe-tiny"));
    test::check_long_reference(*m.model,
                               test::Reference(test::source_dir() + "/tests/data/qwen35moe-tiny-long/reference.safetensors"), kLongTolerance);
}

// Prefill in one call (chunked delta rule), one token at a time (recurrent), and in uneven
// pieces (chunked prefill on top of a carried state) must agree at every position.
TEST(Qwen35Moe, PrefillThenDecodeEqualsTokenByToken) {
    LoadedModel m(test::fixture("models/qwen35moe-tiny"));
    auto ref = reference();
    std::vector<int32_t> tokens = ref.ints("prompt_b");
    auto gen = ref.ints("gen_b");
    tokens.insert(tokens.end(), gen.begin(), gen.end());
    const int64_t T = int64_t(tokens.size());

    auto state = m.model->new_state(T);
    auto whole = test::logits_in_pieces(*m.model, *state, tokens, {T});
    state = m.model->new_state(T);
    auto single = test::logits_in_pieces(*m.model, *state, tokens, std::vector<int64_t>(size_t(T), 1));
    state = m.model->new_state(T);
    auto pieces = test::logits_in_pieces(*m.model, *state, tokens, {37, 1, 3, T - 41});
    EXPECT_LE(test::max_abs_diff(whole.data(), single.data(), whole.size()), 1e-4f);
    EXPECT_LE(test::max_abs_diff(whole.data(), pieces.data(), whole.size()), 1e-4f);
    EXPECT_EQ(state->n_past, T);
}

// reset() must clear the recurrent and convolution states, not only the position.
TEST(Qwen35Moe, ResetClearsRecurrentState) {
    LoadedModel m(test::fixture("models/qwen35moe-tiny"));
    auto ref = reference();
    auto a = ref.ints("prompt_a"), b = ref.ints("prompt_b");
    auto state = m.model->new_state(int64_t(b.size()));
    auto fresh = test::logits_in_pieces(*m.model, *state, b, {int64_t(b.size())});
    state->reset();
    test::logits_in_pieces(*m.model, *state, a, {int64_t(a.size())});
    state->reset();
    auto again = test::logits_in_pieces(*m.model, *state, b, {int64_t(b.size())});
    EXPECT_EQ(test::max_abs_diff(fresh.data(), again.data(), fresh.size()), 0.0f);
    EXPECT_GT(state->bytes(), 0u);
}

TEST(Qwen35Moe, MissingTensorIsNamed) {
    ModelDesc desc = ModelDesc::open(test::fixture("gguf/qwen35moe-tiny-f32.gguf"));
    desc.tensors.erase("blk.1.ssm_a");
    MappedExperts experts(desc, true);
    try {
        load_model(desc, experts);
        FAIL() << "loading without blk.1.ssm_a succeeded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("blk.1.ssm_a"), std::string::npos) << e.what();
    }
}

TEST(Qwen35Moe, ContextOverflowThrows) {
    LoadedModel m(test::fixture("models/qwen35moe-tiny"));
    auto state = m.model->new_state(2);
    std::vector<int32_t> tokens = {1, 2, 3};
    std::vector<float> logits(size_t(m.model->config().vocab_size));
    EXPECT_THROW(m.model->forward(*state, tokens.data(), 3, logits.data(), false), Error);
}

}  // namespace
}  // namespace sluice
