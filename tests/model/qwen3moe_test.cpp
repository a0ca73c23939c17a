// End-to-end logits and greedy tokens of Qwen3-MoE against the transformers references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/model.h"
#include "reference.h"
#include "test_support.h"

namespace sluice {
namespace {

float max_abs_diff(const float* a, const float* b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

struct Loaded {
    ModelDesc desc;
    MappedExperts experts;
    std::unique_ptr<Model> model;
    explicit Loaded(const std::string& path) : desc(ModelDesc::open(path)), experts(desc), model(load_model(desc, experts)) {}
};

void check_case(Model& model, const test::Reference& ref, const std::string& tag) {
    auto prompt = ref.ints("prompt_" + tag);
    auto want_logits = ref.floats("logits_" + tag);
    auto want_gen = ref.ints("gen_" + tag);
    const int64_t V = model.config().vocab_size, T = int64_t(prompt.size());
    ASSERT_EQ(int64_t(want_logits.size()), T * V);

    auto state = model.new_state(T + int64_t(want_gen.size()) + 1);
    std::vector<float> logits(size_t(T * V));
    model.forward(*state, prompt.data(), T, logits.data(), true);
    EXPECT_LE(max_abs_diff(logits.data(), want_logits.data(), logits.size()), 1e-3f) << "logits_" << tag;

    // Greedy decode one token at a time through the cache.
    std::vector<int32_t> got;
    const float* last = logits.data() + (T - 1) * V;
    std::vector<float> step(static_cast<size_t>(V));
    int32_t next = int32_t(std::max_element(last, last + V) - last);
    for (size_t i = 0; i < want_gen.size(); ++i) {
        got.push_back(next);
        model.forward(*state, &next, 1, step.data(), false);
        next = int32_t(std::max_element(step.begin(), step.end()) - step.begin());
    }
    EXPECT_EQ(got, want_gen) << "gen_" << tag;
}

TEST(Qwen3Moe, HfFolderMatchesReference) {
    Loaded m(test::fixture("models/qwen3moe-tiny"));
    test::Reference ref(test::fixture("models/qwen3moe-tiny/reference.safetensors"));
    check_case(*m.model, ref, "a");
    check_case(*m.model, ref, "b");
}

TEST(Qwen3Moe, LlamaCppGgufMatchesReference) {
    Loaded m(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    test::Reference ref(test::fixture("models/qwen3moe-tiny/reference.safetensors"));
    check_case(*m.model, ref, "a");
    check_case(*m.model, ref, "b");
}

}  // namespace
}  // namespace sluice
