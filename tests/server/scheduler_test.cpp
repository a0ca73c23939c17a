#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "runtime/session.h"
#include "scheduler_checks.h"
#include "server/scheduler.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice::server {
namespace {

using namespace checks;

// On the CPU the batched forward is exact (see the check), so the tokens are equal.
TEST(Scheduler, BatchedGreedyEqualsOneAtATimeAndSession) { expect_batched_greedy_equals_one_at_a_time(-1); }

TEST(Scheduler, PromptCacheResumesAConversation) { expect_prompt_cache_resumes_a_conversation(-1); }

TEST(Scheduler, StopTokenEndsTheReplyWithoutSendingIt) {
    Engine engine(engine_options(test::fixture("gguf/qwen3moe-tiny-f32.gguf")));
    const std::vector<int32_t> reference = alone(engine, prompts()[0], 6);
    const int32_t stop = reference[3];
    const auto first = std::find(reference.begin(), reference.end(), stop);
    Scheduler scheduler(engine.model(), engine.experts(), [stop](int32_t id) { return id == stop; },
                        scheduler_options(engine, 2));
    const Collected c = collect(*scheduler.submit({prompts()[0], 6, {}}));
    EXPECT_EQ(c.reason, FinishReason::Stop);
    EXPECT_EQ(c.tokens, std::vector<int32_t>(reference.begin(), first));
}

TEST(Scheduler, ContextFullEndsWithLength) {
    Engine engine(engine_options(test::fixture("gguf/qwen3moe-tiny-f32.gguf")));
    Scheduler scheduler(engine.model(), engine.experts(), never_stop, scheduler_options(engine, 1));
    std::vector<int32_t> prompt(size_t(engine.context() - 3), 5);
    const Collected c = collect(*scheduler.submit({prompt, 100, {}}));
    EXPECT_EQ(c.reason, FinishReason::Length);
    EXPECT_EQ(c.tokens.size(), 4u);   // one sampled from the prompt, then one per free position
}

TEST(Scheduler, RefusesBadRequestsAndAFullQueue) {
    Engine engine(engine_options(test::fixture("gguf/qwen3moe-tiny-f32.gguf"), 512));
    SchedulerOptions o = scheduler_options(engine, 1);
    o.queue_limit = 2;
    Scheduler scheduler(engine.model(), engine.experts(), never_stop, o);
    EXPECT_THROW(scheduler.submit({{}, 4, {}}), Error);
    EXPECT_THROW(scheduler.submit({std::vector<int32_t>(size_t(engine.context()), 1), 4, {}}), Error);
    EXPECT_THROW(scheduler.submit({{1}, 0, {}}), Error);
    // One long request holds the slot (it has sent a token); two more wait; a fourth finds the
    // queue full.
    auto busy = scheduler.submit({{1, 2}, 500, {}});
    ASSERT_TRUE(busy && busy->next(30s));
    auto second = scheduler.submit({{3}, 2, {}}), third = scheduler.submit({{4}, 2, {}});
    ASSERT_TRUE(second && third);
    EXPECT_FALSE(scheduler.submit({{5}, 2, {}}));
    busy->cancel();
    EXPECT_EQ(collect(*busy).reason, FinishReason::Cancelled);
    EXPECT_EQ(collect(*second).reason, FinishReason::Length);
    EXPECT_EQ(collect(*third).reason, FinishReason::Length);
}

TEST(Scheduler, CancelledRequestFreesItsSlotAtTheNextStep) {
    Engine engine(engine_options(test::fixture("gguf/qwen3moe-tiny-f32.gguf"), 512));
    Scheduler scheduler(engine.model(), engine.experts(), never_stop, scheduler_options(engine, 1));
    auto long_one = scheduler.submit({{1, 2, 3}, 500, {}});
    ASSERT_TRUE(long_one->next(30s));   // it is running
    long_one->cancel();
    const Collected rest = collect(*long_one);
    EXPECT_EQ(rest.reason, FinishReason::Cancelled);
    EXPECT_LT(rest.tokens.size(), 499u);
    // The slot serves the next request from a clean state.
    const Collected next = collect(*scheduler.submit({prompts()[2], 5, {}}));
    EXPECT_EQ(next.tokens, alone(engine, prompts()[2], 5));
}

TEST(Scheduler, ShutdownEndsActiveAndQueuedRequestsWithAnError) {
    Engine engine(engine_options(test::fixture("gguf/qwen3moe-tiny-f32.gguf"), 512));
    Scheduler scheduler(engine.model(), engine.experts(), never_stop, scheduler_options(engine, 1));
    auto active = scheduler.submit({{1, 2, 3}, 500, {}});
    auto queued = scheduler.submit({{4, 5}, 500, {}});
    ASSERT_TRUE(active->next(30s));
    scheduler.shutdown();
    for (auto* s : {active.get(), queued.get()}) {
        const Collected c = collect(*s);
        EXPECT_EQ(c.reason, FinishReason::Error);
        EXPECT_EQ(c.error, "the server is shutting down");
    }
    EXPECT_EQ(collect(*scheduler.submit({{1}, 2, {}})).error, "the server is shutting down");
}

}  // namespace
}  // namespace sluice::server
