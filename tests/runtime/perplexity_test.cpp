// sluice's perplexity against the same figure computed here from Session::eval_all logits with
// llama.cpp's chunking written out by hand; the log-probability file's round trip; KL divergence
// of a run against itself and against fewer experts per token.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "runtime/model_tokenizer.h"
#include "runtime/perplexity.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

std::string model_path() { return test::fixture("gguf/qwen3moe-tiny-f32.gguf"); }

// English prose for the tiny tokenizer: comfortably more than 3 chunks of 16 tokens.
std::vector<int32_t> text_tokens() {
    const std::string text =
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
        "want of a wife. However little known the feelings or views of such a man may be on his first entering a "
        "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
        "considered the rightful property of some one or other of their daughters.";
    return load_tokenizer(model_path())->encode(text);
}

EngineOptions options(int64_t ctx, int64_t ubatch = 256, int64_t k = 0) {
    EngineOptions o;
    o.model_path = model_path();
    o.context = ctx;
    o.prefill_batch = ubatch;
    o.experts_per_token = k;
    return o;
}

// exp(mean NLL) over chunks c = 0, 1, 2 of 16 tokens: the logits at positions 8..14 of each
// chunk predict its tokens 9..15, 7 per chunk, 21 in all.
double hand_computed_ppl(Engine& engine, const std::vector<int32_t>& tokens, int64_t& count) {
    Session s(engine);
    const int64_t V = engine.model().config().vocab_size;
    double nll = 0;
    count = 0;
    for (int c = 0; c < 3; ++c) {
        std::vector<int32_t> chunk(tokens.begin() + c * 16, tokens.begin() + (c + 1) * 16);
        s.reset();
        std::vector<float> logits = s.eval_all(chunk);
        for (int pos = 8; pos <= 14; ++pos) {
            const float* row = logits.data() + pos * V;
            double mx = *std::max_element(row, row + V), z = 0;
            for (int64_t i = 0; i < V; ++i) z += std::exp(double(row[i]) - mx);
            nll -= double(row[chunk[size_t(pos + 1)]]) - mx - std::log(z);
            ++count;
        }
    }
    return std::exp(nll / double(count));
}

TEST(Perplexity, EqualsExpMeanNllOfTheSecondHalfOfEachChunk) {
    const auto tokens = text_tokens();
    ASSERT_GE(tokens.size(), 64u);   // 3 chunks of 16, and a 4th left out by --chunks 3
    for (int64_t ubatch : {256, 5}) {   // one forward per chunk, and batches splitting the scored half
        Engine engine(options(16, ubatch));
        int64_t count = 0;
        const double want = hand_computed_ppl(engine, tokens, count);
        Session session(engine);
        const PerplexityResult got = score_perplexity(session, tokens, plan_perplexity(int64_t(tokens.size()), 16, 3));
        EXPECT_EQ(got.nll.count, count);
        EXPECT_EQ(count, 21);
        EXPECT_NEAR(got.nll.ppl(), want, want * 1e-12) << "ubatch " << ubatch;
        EXPECT_GT(got.nll.ppl_error(), 0);
    }
}

// A tokenizer that adds BOS: as llama.cpp, every chunk starts with BOS in place of its first
// token, which changes what the scored half sees.
TEST(Perplexity, BosTakesTheFirstPlaceOfEveryChunk) {
    const auto tokens = text_tokens();
    constexpr int32_t kBos = 509;   // the tiny tokenizer's <|endoftext|>
    std::vector<int32_t> with_bos = tokens;
    for (int c = 0; c < 3; ++c) with_bos[size_t(c * 16)] = kBos;
    Engine engine(options(16));
    int64_t count = 0;
    const double want = hand_computed_ppl(engine, with_bos, count);
    PerplexityPlan plan = plan_perplexity(int64_t(tokens.size()), 16, 3);
    Session session(engine);
    const double without = score_perplexity(session, tokens, plan).nll.ppl();
    plan.bos = kBos;
    const double got = score_perplexity(session, tokens, plan).nll.ppl();
    EXPECT_NEAR(got, want, want * 1e-12);
    EXPECT_GT(std::abs(got - without), 1e-6 * without);
}

TEST(Perplexity, PlanFollowsLlamaCppsChunking) {
    PerplexityPlan p = plan_perplexity(100, 16, 0);
    EXPECT_EQ(p.chunks, 6);                  // 100 / 16, the tail of 4 dropped
    EXPECT_EQ(p.first_scored(), 8);
    EXPECT_EQ(p.scored_per_chunk(), 7);
    EXPECT_EQ(plan_perplexity(100, 16, 2).chunks, 2);
    EXPECT_EQ(plan_perplexity(32, 16, 0).chunks, 2);
    EXPECT_EQ(plan_perplexity(17, 8, 0).chunks, 2);
    EXPECT_EQ(plan_perplexity(16, 8, 0).scored_per_chunk(), 3);
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
    try {
        f();
        ADD_FAILURE() << "no error, expected one containing: " << needle;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(Perplexity, PlanRejectsShortTextAndTinyContexts) {
    expect_error([] { plan_perplexity(31, 16, 0); }, "the text has 31 tokens; perplexity with --ctx 16 needs at least 32");
    expect_error([] { plan_perplexity(1000, 7, 0); }, "--ctx 7: perplexity needs a context of at least 8");
    expect_error([] { plan_perplexity(1000, 16, -1); }, "--chunks -1");
}

TEST(Perplexity, ErrorEstimateIsLlamaCpps) {
    NllSum s;
    for (double v : {1.0, 2.0, 3.0, 4.0}) s.add(v);
    // mean 2.5, population variance 1.25; error = sqrt(1.25 / 3) · e^2.5
    EXPECT_NEAR(s.ppl(), std::exp(2.5), 1e-12);
    EXPECT_NEAR(s.ppl_error(), std::sqrt(1.25 / 3) * std::exp(2.5), 1e-12);
}

struct SavedRun {
    test::TempDir dir;
    std::string path = dir.file("base.lp");
    PerplexityResult result;
};

std::unique_ptr<SavedRun> save_run(const std::vector<int32_t>& tokens, const PerplexityPlan& plan) {
    auto run = std::make_unique<SavedRun>();
    Engine engine(options(plan.ctx));
    Session session(engine);
    LogProbHeader h{session.vocab_size(), plan.ctx, plan.chunks,
                    std::vector<int32_t>(tokens.begin(), tokens.begin() + plan.tokens())};
    LogProbWriter w(run->path, h);
    PerplexityHooks hooks;
    hooks.save = &w;
    run->result = score_perplexity(session, tokens, plan, hooks);
    return run;
}

PerplexityResult compare(const std::string& base_path, const std::vector<int32_t>& tokens, const PerplexityPlan& plan,
                         int64_t k) {
    LogProbReader base(base_path);
    Engine engine(options(plan.ctx, 256, k));
    Session session(engine);
    PerplexityHooks hooks;
    hooks.base = &base;
    return score_perplexity(session, tokens, plan, hooks);
}

TEST(KlDivergence, RunAgainstItselfIsZeroWithFullAgreement) {
    const auto tokens = text_tokens();
    const PerplexityPlan plan = plan_perplexity(int64_t(tokens.size()), 16, 3);
    auto base = save_run(tokens, plan);
    const PerplexityResult r = compare(base->path, tokens, plan, 0);
    ASSERT_TRUE(r.kl);
    EXPECT_EQ(r.kl->count, 21);
    // Only the file's 16-bit rounding of log-probabilities (≤ 2e-4 nats) separates the two.
    EXPECT_GE(r.kl->mean(), 0.0);
    EXPECT_LT(r.kl->mean(), 1e-6);
    EXPECT_DOUBLE_EQ(r.kl->top1_agreement(), 1.0);
    // The target's NLL is stored exactly (as float32).
    EXPECT_NEAR(r.kl->base.ppl(), base->result.nll.ppl(), base->result.nll.ppl() * 1e-6);
    EXPECT_DOUBLE_EQ(r.nll.ppl(), base->result.nll.ppl());
}

TEST(KlDivergence, FewerExpertsPerTokenDiverge) {
    const auto tokens = text_tokens();
    const PerplexityPlan plan = plan_perplexity(int64_t(tokens.size()), 16, 3);
    auto base = save_run(tokens, plan);
    const PerplexityResult r = compare(base->path, tokens, plan, 1);   // K = 1 of the model's 4
    ASSERT_TRUE(r.kl);
    EXPECT_GT(r.kl->mean(), 0.01);
    EXPECT_LT(r.kl->top1_agreement(), 1.0);
    EXPECT_NEAR(r.kl->base.ppl(), base->result.nll.ppl(), base->result.nll.ppl() * 1e-6);
}

TEST(LogProbFile, RowsRoundTripWithinTheirStep) {
    test::TempDir dir;
    const int64_t V = 1000;
    LogProbHeader h{V, 8, 2, std::vector<int32_t>(16, 3)};
    std::mt19937 rng(5);
    std::normal_distribution<float> logit(0.0f, 4.0f);
    std::vector<std::vector<float>> rows(size_t(h.rows()), std::vector<float>(size_t(V)));
    {
        LogProbWriter w(dir.file("f"), h);
        for (auto& r : rows) {
            for (auto& v : r) v = logit(rng);
            w.write(r, log_sum_exp(r), 17);
        }
        w.finish();
    }
    LogProbReader in(dir.file("f"));
    EXPECT_EQ(in.header().tokens, h.tokens);
    for (const auto& r : rows) {
        const BaseRow& b = in.next();
        const double lse = log_sum_exp(r);
        EXPECT_FLOAT_EQ(b.nll, float(lse - r[17]));
        EXPECT_EQ(b.top1, int32_t(std::max_element(r.begin(), r.end()) - r.begin()));
        const float top = float(*std::max_element(r.begin(), r.end()) - lse);
        for (int64_t i = 0; i < V; ++i) {
            const double lp = double(r[size_t(i)]) - lse;
            if (lp > top - 24) {
                EXPECT_NEAR(b.logp[size_t(i)], lp, 3e-4) << i;   // step/2 + renormalisation
            }
        }
        EXPECT_LT(std::fabs(kl_divergence(b.logp, r, lse)), 1e-6);
    }
    expect_error([&] { in.next(); }, "no more scored rows");
}

TEST(LogProbFile, MismatchedRunsAreRefused) {
    test::TempDir dir;
    LogProbHeader h{100, 8, 2, std::vector<int32_t>(16, 3)};
    {
        LogProbWriter w(dir.file("f"), h);
        std::vector<float> row(100, 0.0f);
        for (int64_t i = 0; i < h.rows(); ++i) w.write(row, log_sum_exp(row), 0);
        w.finish();
    }
    LogProbReader in(dir.file("f"));
    std::vector<int32_t> same(16, 3), other = same, longer(24, 3);
    other[11] = 4;
    EXPECT_NO_THROW(in.check_matches(100, 8, same));
    expect_error([&] { in.check_matches(200, 8, same); }, "base run has a vocabulary of 100, this model 200");
    expect_error([&] { in.check_matches(100, 16, same); }, "base run used --ctx 8, this run 16");
    expect_error([&] { in.check_matches(100, 8, longer); }, "base run scored 2 chunks, this run 3");
    expect_error([&] { in.check_matches(100, 8, other); }, "base run was over other text (token 11 is 3 there, 4 here)");
}

TEST(LogProbFile, DamagedFilesAreRefused) {
    test::TempDir dir;
    test::write_file(dir.file("junk"), "not a log-probability file at all");
    expect_error([&] { LogProbReader r(dir.file("junk")); }, "not a sluice log-probability file");
    expect_error([&] { LogProbReader r(dir.file("missing")); }, "cannot open the file");
    LogProbHeader h{100, 8, 1, std::vector<int32_t>(8, 3)};
    {
        LogProbWriter w(dir.file("short"), h);
        std::vector<float> row(100, 0.0f);
        w.write(row, log_sum_exp(row), 0);   // 1 of 3 rows
        expect_error([&] { w.finish(); }, "2 scored rows missing");
    }
    expect_error([&] { LogProbReader r(dir.file("short")); }, "but its header (vocab 100, ctx 8, 1 chunks) needs");
}

}  // namespace
}  // namespace sluice
