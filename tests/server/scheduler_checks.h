// The scheduler's checks that hold on every device: greedy requests batched equal them one at a
// time, and the prompt cache resumes a conversation as a session would. tests/server runs them on
// the CPU, tests/gpu with --gpu.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "runtime/session.h"
#include "server/scheduler.h"
#include "test_support.h"

namespace sluice::server::checks {

using namespace std::chrono_literals;

struct Collected {
    std::vector<int32_t> tokens;
    FinishReason reason = FinishReason::Stop;
    std::string error;
};

inline Collected collect(RequestStream& stream) {
    Collected c;
    for (;;) {
        auto e = stream.next(30s);
        if (!e) ADD_FAILURE() << "no event within 30 s";
        if (!e) return c;
        if (e->finished) {
            c.reason = e->reason;
            c.error = e->error;
            return c;
        }
        c.tokens.push_back(e->token);
    }
}

inline EngineOptions engine_options(const std::string& model, int64_t context = 96, int gpu = -1) {
    EngineOptions o;
    o.model_path = model;
    o.gpu = gpu;
    o.context = context;
    o.prefill_batch = 5;   // prompts of 3 to 17 tokens run in one to four chunks
    o.sequences = 4;
    return o;
}

inline SchedulerOptions scheduler_options(const Engine& engine, int64_t parallel) {
    SchedulerOptions o;
    o.parallel = parallel;
    o.context = engine.context();
    o.prompt_chunk = engine.options().prefill_batch;
    return o;
}

const auto never_stop = [](int32_t) { return false; };

inline std::vector<std::vector<int32_t>> prompts() {
    return {{1, 2, 3}, {40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50}, {7, 300, 12, 99, 5, 6}, {
        200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216}};
}

// Greedy generation of each prompt alone in a Session: the reference the scheduler must match.
inline std::vector<int32_t> alone(Engine& engine, const std::vector<int32_t>& prompt, int64_t n) {
    Session session(engine);
    session.feed(prompt);
    Sampler greedy(SamplerOptions{});
    return session.generate(n, greedy);
}

// The same greedy requests give the same tokens one at a time and four at once, and both equal a
// Session's generation (on the CPU the batched forward is exact: a sequence's rows see the same
// products whatever runs beside them; on the GPU a step of more than 8 rows takes the prefill
// products, which add in another order, and these fixtures' greedy tokens stay the same); for attention (Qwen3-MoE) and Gated DeltaNet
// (Qwen3.5-MoE) layers. Prompts start while others decode, so steps mix prompt chunks and
// decode rows.
inline void expect_batched_greedy_equals_one_at_a_time(int gpu) {
    for (const char* fixture : {"gguf/qwen3moe-tiny-f32.gguf", "gguf/qwen35moe-tiny-f32.gguf"}) {
        SCOPED_TRACE(fixture);
        Engine engine(engine_options(test::fixture(fixture), 96, gpu));
        const int64_t n = 12;
        std::vector<std::vector<int32_t>> reference;
        for (const auto& p : prompts()) reference.push_back(alone(engine, p, n));

        for (int64_t parallel : {1, 4}) {
            SCOPED_TRACE(parallel);
            Scheduler scheduler(engine.model(), engine.experts(), never_stop, scheduler_options(engine, parallel));
            std::vector<std::shared_ptr<RequestStream>> streams;
            for (const auto& p : prompts()) streams.push_back(scheduler.submit({p, n, {}}));
            for (size_t i = 0; i < streams.size(); ++i) {
                ASSERT_TRUE(streams[i]);
                const Collected c = collect(*streams[i]);
                EXPECT_EQ(c.reason, FinishReason::Length);
                EXPECT_EQ(c.tokens, reference[i]) << "request " << i;
            }
            const SchedulerStats s = scheduler.stats();
            EXPECT_EQ(s.requests, 4);
            EXPECT_EQ(s.generated_tokens, 4 * n);
            EXPECT_EQ(s.prompt_tokens, 3 + 11 + 6 + 17);
            if (parallel == 4) {
                EXPECT_LT(s.steps, 4 * n);   // sequences shared steps
            }
        }
    }
}

// A Session fed segment by segment, each as a prompt (in chunks) or token by token (as decode
// feeds a reply); then n greedy tokens. What a conversation resumed from the prompt cache gives.
struct Segment {
    std::vector<int32_t> tokens;
    bool one_by_one = false;
};
inline std::vector<int32_t> replay(Engine& engine, const std::vector<Segment>& segments, int64_t n) {
    Session session(engine);
    for (const Segment& s : segments) {
        if (!s.one_by_one) session.feed(s.tokens);
        else
            for (int32_t id : s.tokens) session.feed({&id, 1});
    }
    Sampler greedy(SamplerOptions{});
    return session.generate(n, greedy);
}

inline std::vector<int32_t> join(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// The prompt cache. A prompt that extends an earlier one but not its reply (the reply came back
// re-rendered, say) resumes from the end of that prompt: attention layers go back by position,
// recurrent ones from the checkpoint taken there. A prompt that extends the earlier prompt and
// everything the state holds of its reply (all but the last token, which was sampled, never run)
// runs only the new tokens. Either way the tokens are those of a session that ran the
// conversation the same way. A prompt sharing only a few tokens with a state reuses them where
// the model has attention layers only, and nothing where it has recurrent ones.
inline void expect_prompt_cache_resumes_a_conversation(int gpu) {
    for (const char* fixture : {"gguf/qwen3moe-tiny-f32.gguf", "gguf/qwen35moe-tiny-f32.gguf"}) {
        SCOPED_TRACE(fixture);
        const bool recurrent = std::string(fixture).find("qwen35") != std::string::npos;
        Engine engine(engine_options(test::fixture(fixture), 96, gpu));
        Scheduler scheduler(engine.model(), engine.experts(), never_stop, scheduler_options(engine, 2));
        const std::vector<int32_t> first = prompts()[1];
        const Collected reply = collect(*scheduler.submit({first, 6, {}}));
        ASSERT_EQ(reply.tokens.size(), 6u);
        EXPECT_EQ(scheduler.stats().cached_prompt_tokens, 0);

        const std::vector<int32_t> other = {int32_t(reply.tokens[0] == 50 ? 51 : 50), 52, 53};
        const std::vector<int32_t> diverging = join(first, other);
        const Collected second = collect(*scheduler.submit({diverging, 3, {}}));
        EXPECT_EQ(scheduler.stats().cached_prompt_tokens, int64_t(first.size()));
        EXPECT_EQ(second.tokens, replay(engine, {{first}, {other}}, 3));

        const std::vector<int32_t> held(second.tokens.begin(), second.tokens.begin() + 2), rest = {9, 8, 7, 6, 5, 4, 3};
        const std::vector<int32_t> follow = join(join(join(diverging, held), {second.tokens[2]}), rest);
        const Collected third = collect(*scheduler.submit({follow, 5, {}}));
        EXPECT_EQ(scheduler.stats().cached_prompt_tokens, int64_t(first.size() + diverging.size() + 2));
        EXPECT_EQ(third.tokens, replay(engine, {{first}, {other}, {held, true}, {join({second.tokens[2]}, rest)}}, 5));

        std::vector<int32_t> partial(first.begin(), first.begin() + 4);
        partial.push_back(77);
        collect(*scheduler.submit({partial, 2, {}}));
        EXPECT_EQ(scheduler.stats().cached_prompt_tokens, int64_t(first.size() + diverging.size() + 2) + (recurrent ? 0 : 4));
    }
}

}  // namespace sluice::server::checks
