// Checks a model against a fixture's reference.safetensors: logits over a whole prompt in one
// forward pass, then greedy decoding one token at a time through the state.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "error_bound.h"
#include "model/model.h"
#include "reference.h"

namespace sluice::test {

// A model file opened with its experts used in place. The reference checks keep the KV cache in
// float32, the references' arithmetic; the f16 and q8_0 caches have their own tests
// (kv_cache_test.cpp).
struct LoadedModel {
    ModelDesc desc;
    MappedExperts experts;
    std::unique_ptr<Model> model;
    explicit LoadedModel(const std::string& path, KvCacheType cache_type = KvCacheType::F32)
        : desc(ModelDesc::open(path)), experts(desc, true), model(load_model(desc, experts, options(cache_type))) {}

private:
    static ModelOptions options(KvCacheType cache_type) {
        ModelOptions mo;
        mo.cache_type = cache_type;
        return mo;
    }
};

// logits_<tag> within `tol` max abs, and gen_<tag> exactly. Each caller states its tolerance from
// the error it measures (printed here), so that a wrong constant (a norm epsilon) fails.
inline void check_reference_case(Model& model, const Reference& ref, const std::string& tag, float tol) {
    auto prompt = ref.ints("prompt_" + tag);
    auto want_logits = ref.floats("logits_" + tag);
    auto want_gen = ref.ints("gen_" + tag);
    const int64_t V = model.config().vocab_size, T = int64_t(prompt.size());
    ASSERT_EQ(int64_t(want_logits.size()), T * V);

    auto state = model.new_state(T + int64_t(want_gen.size()) + 1);
    std::vector<float> logits(size_t(T * V));
    model.forward(*state, prompt.data(), T, logits.data(), true);
    const float err = max_abs_diff(logits.data(), want_logits.data(), logits.size());
    std::printf("logits_%s: max |Δ| %.3g (bound %.3g)\n", tag.c_str(), err, tol);
    EXPECT_LE(err, tol) << "logits_" << tag;

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

// The long-prompt references (tests/data/*-tiny-long): logits of the last positions of
// prompt_c (logits_c_tail) within `tol`, then gen_c greedily, decoded one token at a time.
inline void check_long_reference(Model& model, const Reference& ref, float tol) {
    auto prompt = ref.ints("prompt_c");
    auto want_tail = ref.floats("logits_c_tail");
    auto want_gen = ref.ints("gen_c");
    const int64_t V = model.config().vocab_size, T = int64_t(prompt.size()), tail = int64_t(want_tail.size()) / V;
    auto state = model.new_state(T + int64_t(want_gen.size()) + 1);
    std::vector<float> logits(size_t(T * V));
    model.forward(*state, prompt.data(), T, logits.data(), true);
    const float err = max_abs_diff(logits.data() + (T - tail) * V, want_tail.data(), want_tail.size());
    std::printf("logits_c_tail: max |Δ| %.3g (bound %.3g)\n", err, tol);
    EXPECT_LE(err, tol) << "logits_c_tail";

    std::vector<int32_t> got;
    std::vector<float> step(logits.end() - V, logits.end());
    for (size_t i = 0; i < want_gen.size(); ++i) {
        int32_t next = int32_t(std::max_element(step.begin(), step.end()) - step.begin());
        got.push_back(next);
        model.forward(*state, &next, 1, step.data(), false);
    }
    EXPECT_EQ(got, want_gen) << "gen_c";
}

// Runs `tokens` in pieces of the given sizes (summing to tokens.size()) and returns the logits of
// every position; a hybrid model's state must make any split give the same logits.
inline std::vector<float> logits_in_pieces(Model& model, ModelState& state, const std::vector<int32_t>& tokens,
                                           const std::vector<int64_t>& pieces) {
    const int64_t V = model.config().vocab_size;
    std::vector<float> out(tokens.size() * size_t(V));
    int64_t at = 0;
    for (int64_t len : pieces) {
        model.forward(state, tokens.data() + at, len, out.data() + at * V, true);
        at += len;
    }
    EXPECT_EQ(at, int64_t(tokens.size()));
    return out;
}

}  // namespace sluice::test
