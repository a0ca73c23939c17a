// Engine-level robustness: a read that fails mid-generation ends that request with an error and
// the engine serves the next one exactly; the context and vocabulary are enforced at their edges.
#include <gtest/gtest.h>

#include <cstdlib>

#include "runtime/engine.h"
#include "runtime/planner.h"
#include "runtime/session.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

std::string model_path() { return test::fixture("gguf/qwen3moe-tiny-f32.gguf"); }

// Experts streamed through 8 cache slots (the model's K is 4), reads in a fixed order.
EngineOptions streamed(int64_t context) {
    EngineOptions o;
    o.model_path = model_path();
    o.context = context;
    o.prefetch = false;   // every read is a miss the current token waits for
    o.prefill_batch = kDefaultUbatch;   // the scratch planned below
    ModelDesc desc = ModelDesc::open(o.model_path);
    MemoryPlan p = plan_memory(desc, 0, context, o.resolved_cache_type(), 0, {}, o.prefill_batch);
    o.mem_budget = p.dense + p.state + p.scratch + p.reserve + 8 * p.slot_bytes;
    return o;
}

// An engine whose reader has `fault` injected (SLUICE_FAULT is read when the engine's reader
// options are made).
std::unique_ptr<Engine> engine_with_fault(const EngineOptions& o, const std::string& fault) {
    ::setenv("SLUICE_FAULT", fault.c_str(), 1);
    auto engine = std::make_unique<Engine>(o);
    ::unsetenv("SLUICE_FAULT");
    return engine;
}

std::vector<int32_t> greedy(Session& s, const std::vector<int32_t>& prompt, int n) {
    Sampler sampler(SamplerOptions{});
    s.feed(prompt);
    return s.generate(n, sampler);
}

TEST(Robustness, FailedReadMidGenerationEndsTheRequestAndTheEngineServesTheNext) {
    const std::vector<int32_t> prompt = {11, 42, 7, 300, 5, 99, 12, 64};
    const int n = 12;
    // The fault-free run, and how many chunk reads its prompt took (3 parts per missed expert,
    // one chunk each).
    Engine clean(streamed(64));
    Session ref_session(clean);
    ref_session.feed(prompt);
    const uint64_t prompt_chunks = 3 * clean.experts().stats().misses;
    ref_session.reset();
    const std::vector<int32_t> want = greedy(ref_session, prompt, n);
    ASSERT_GT(3 * clean.experts().stats().misses, 2 * prompt_chunks + 6) << "generation reads too little to fault";

    auto engine = engine_with_fault(streamed(64), fmt::format("eio@{}", prompt_chunks + 4));
    Session s(*engine);
    s.feed(prompt);   // the fault comes after the prompt's reads, in the 1st or 2nd token generated
    Sampler sampler(SamplerOptions{});
    try {
        s.generate(n, sampler);
        FAIL() << "generation survived a failed read";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(model_path()), std::string::npos) << e.what();
    }
    // The next request on the same engine, in this session after a reset or in a new one, is
    // served exactly. (A read that hangs is failed at the reader's deadline instead:
    // tests/store, CacheFaults.)
    s.reset();
    EXPECT_EQ(greedy(s, prompt, n), want);
    Session fresh(*engine);
    EXPECT_EQ(greedy(fresh, prompt, n), want);
}

// Limits and guarantees (README): the context holds exactly its tokens, and ids are checked.
TEST(Robustness, ContextAndVocabularyEdges) {
    EngineOptions o;
    o.model_path = model_path();
    o.context = 16;
    Engine engine(o);
    Session s(engine);
    std::vector<int32_t> full(16, 3);
    EXPECT_NO_THROW(s.feed(full));
    try {
        s.feed(std::vector<int32_t>{3});
        FAIL() << "a 17th token fit a 16-token context";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("context full: 17 tokens do not fit in the 16-token context"),
                  std::string::npos) << e.what();
    }
    s.reset();
    const int32_t V = int32_t(engine.desc().config.vocab_size);
    EXPECT_NO_THROW(s.feed(std::vector<int32_t>{V - 1}));
    EXPECT_THROW(s.feed(std::vector<int32_t>{V}), Error);
    EXPECT_THROW(s.feed(std::vector<int32_t>{-1}), Error);
}

// The context is counted against the budget: a budget that holds the state of 64 tokens
// refuses 4096.
TEST(Robustness, ContextBeyondTheBudgetIsRefused) {
    EngineOptions o = streamed(64);
    EXPECT_NO_THROW(Engine{o});
    o.context = 4096;
    try {
        Engine e(o);
        FAIL() << "a 4096-token context fit a budget planned for 64";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("is too small for this model"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace sluice
