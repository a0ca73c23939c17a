// A batched forward (several sequences in one call, DESIGN.md §10) gives each sequence what it
// gets alone: prompts of different lengths prefilled together, then decode steps together, on
// each architecture, from float weights and a quantised file.
#include <gtest/gtest.h>

#include <algorithm>

#include "error_bound.h"
#include "reference.h"
#include "reference_check.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

struct Trace {
    std::vector<std::vector<float>> prompt_logits;   // per sequence, [T, vocab]
    std::vector<std::vector<float>> step_logits;     // per sequence, every decode step's [vocab]
};

// The sequences' prompts, then `steps` greedy decode steps, each sequence alone or all together.
Trace run(Model& model, const std::vector<std::vector<int32_t>>& prompts, int steps, bool batched) {
    const int64_t V = model.config().vocab_size;
    const size_t S = prompts.size();
    std::vector<std::unique_ptr<ModelState>> states;
    Trace t;
    for (const auto& p : prompts) {
        states.push_back(model.new_state(int64_t(p.size()) + steps + 1));
        t.prompt_logits.emplace_back(p.size() * size_t(V));
        t.step_logits.emplace_back();
    }
    auto forward = [&](const std::vector<SequenceStep>& all) {
        if (batched) {
            model.forward_batch(all);
        } else {
            for (const SequenceStep& s : all) model.forward_batch({&s, 1});
        }
    };
    std::vector<SequenceStep> prefill;
    for (size_t i = 0; i < S; ++i) prefill.push_back({states[i].get(), prompts[i], t.prompt_logits[i].data(), true});
    forward(prefill);
    std::vector<int32_t> next(S);
    for (size_t i = 0; i < S; ++i) {
        const float* last = t.prompt_logits[i].data() + (prompts[i].size() - 1) * size_t(V);
        next[i] = int32_t(std::max_element(last, last + V) - last);
    }
    for (int k = 0; k < steps; ++k) {
        std::vector<std::vector<float>> out(S, std::vector<float>(size_t(V)));
        std::vector<SequenceStep> step;
        for (size_t i = 0; i < S; ++i) step.push_back({states[i].get(), {&next[i], 1}, out[i].data(), false});
        forward(step);
        for (size_t i = 0; i < S; ++i) {
            t.step_logits[i].insert(t.step_logits[i].end(), out[i].begin(), out[i].end());
            next[i] = int32_t(std::max_element(out[i].begin(), out[i].end()) - out[i].begin());
        }
    }
    return t;
}

float worst(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
    float m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = test::worse(m, test::max_abs_diff(a[i].data(), b[i].data(), a[i].size()));
    return m;
}

class Batch : public ::testing::TestWithParam<const char*> {};

// Every per-row operation runs on the same rows either way, and the MoE sums each token's experts
// in ascending id whatever else is in the batch; what may differ is only how the kernels split
// rows among threads and columns. Measured: bit-identical on every fixture (the bound is 0).
TEST_P(Batch, SequencesTogetherEqualSequencesAlone) {
    test::LoadedModel m(test::fixture(GetParam()));
    const std::string path = GetParam();
    std::string family = "qwen3moe";
    for (const char* f : {"qwen35moe", "glm4moe", "deepseek3"})
        if (path.find(f) != std::string::npos) family = f;
    test::Reference ref(test::fixture("models/" + family + "-tiny/reference.safetensors"));
    const auto a = ref.ints("prompt_a"), b = ref.ints("prompt_b");
    const std::vector<std::vector<int32_t>> prompts = {a, b, {a.begin(), a.begin() + 5}};
    const Trace alone = run(*m.model, prompts, 4, false);
    const Trace together = run(*m.model, prompts, 4, true);
    EXPECT_EQ(worst(alone.prompt_logits, together.prompt_logits), 0.0f);
    EXPECT_EQ(worst(alone.step_logits, together.step_logits), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Batch,
                         ::testing::Values("gguf/qwen3moe-tiny-f32.gguf", "gguf/qwen3moe-tiny-q8_0.gguf",
                                           "models/qwen35moe-tiny", "gguf/qwen35moe-tiny-q8_0.gguf",
                                           "models/glm4moe-tiny", "gguf/glm4moe-tiny-q8_0.gguf", "models/deepseek3-tiny",
                                           "gguf/deepseek3-tiny-q8_0.gguf"),
                         [](const auto& info) {
                             std::string n = info.param;
                             n = n.substr(n.rfind('/') + 1);
                             for (char& c : n)
                                 if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                             return n;
                         });

TEST(BatchErrors, SameSequenceTwiceAndEmptySequencesAreRefused) {
    test::LoadedModel m(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    auto state = m.model->new_state(8);
    const std::vector<int32_t> t = {1, 2};
    std::vector<float> out(size_t(m.model->config().vocab_size));
    const std::vector<SequenceStep> twice = {{state.get(), t, out.data(), false}, {state.get(), t, out.data(), false}};
    EXPECT_THROW(m.model->forward_batch(twice), Error);
    const std::vector<SequenceStep> empty = {{state.get(), {}, out.data(), false}};
    EXPECT_THROW(m.model->forward_batch(empty), Error);
    EXPECT_EQ(state->n_past, 0);
}

}  // namespace
}  // namespace sluice
