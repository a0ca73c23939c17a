// `sluice perplexity`, `--cache-policy` and the routing statistics of `--stats` / `bench --json`
// through the binary: output format, agreement between ways of running, and one clear error
// line for each kind of bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_support.h"
#include "test_support.h"

namespace sluice {
namespace {

std::string model() { return test::fixture("gguf/qwen3moe-tiny-f32.gguf"); }

using test::sluice;

// A text of a few hundred tokens for the tiny tokenizer.
std::string write_text(const test::TempDir& tmp) {
    std::string text;
    for (int i = 0; i < 6; ++i)
        text += "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be "
                "in want of a wife. Chapter " + std::to_string(i) + " tells of the neighbourhood and its families.\n";
    test::write_file(tmp.file("text.txt"), text);
    return tmp.file("text.txt");
}

// The figure of the `PPL = x +/- y` line, which must be the last line of stdout.
double ppl_of(const std::string& out) {
    std::smatch m;
    static const std::regex final_line(R"(PPL = ([0-9.]+) \+/- ([0-9.]+)\n$)");
    if (!std::regex_search(out, m, final_line)) {
        ADD_FAILURE() << "no final PPL line in:\n" << out;
        return 0;
    }
    return std::stod(m[1]);
}

void expect_error(const std::string& args, const std::string& needle) {
    auto r = sluice(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
}

TEST(Perplexity, PrintsRunningEstimatesAndTheFinalLine) {
    test::TempDir tmp;
    auto r = sluice("perplexity -m " + model() + " -f " + write_text(tmp) + " --ctx 16 --chunks 3");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("3 chunks of 16, 7 tokens scored in each"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[1/3] estimate "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[3/3] estimate "), std::string::npos) << r.out;
    const double ppl = ppl_of(r.out);
    EXPECT_GT(ppl, 1.0);
    EXPECT_LT(ppl, 512.0 * 4);   // a vocabulary of 512: a random model sits near it
    EXPECT_EQ(r.err, "") << "no progress bar when stderr is not a terminal";
}

// Streaming the experts under a budget, with either cache policy, token by token or in
// batches, scores the same.
TEST(Perplexity, SameFigureStreamedUnderABudgetWithEitherPolicy) {
    test::TempDir tmp;
    const std::string base = "perplexity -m " + model() + " -f " + write_text(tmp) + " --ctx 32 --chunks 2";
    auto mapped = sluice(base);
    ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
    for (const char* extra : {" --mem 27.5M --cache-policy lru", " --mem 27.5M --cache-policy lfu --ubatch 7"}) {
        auto r = sluice(base + extra);
        ASSERT_EQ(r.exit_code, 0) << extra << ": " << r.err;
        EXPECT_NEAR(ppl_of(r.out), ppl_of(mapped.out), ppl_of(mapped.out) * 1e-6) << extra;
    }
}

TEST(Perplexity, StatsReportRoutingPerBatchOrPerToken) {
    test::TempDir tmp;
    const std::string base = "perplexity -m " + model() + " -f " + write_text(tmp) + " --ctx 16 --chunks 2 --stats";
    auto batched = sluice(base);
    ASSERT_EQ(batched.exit_code, 0) << batched.err;
    EXPECT_NE(batched.err.find("routing (one call per forward batch of up to 16 tokens"), std::string::npos)
        << batched.err;
    EXPECT_NE(batched.err.find("routing per layer"), std::string::npos) << batched.err;
    EXPECT_EQ(batched.err.find("decode"), std::string::npos) << "no decode in a perplexity run: " << batched.err;
    auto per_token = sluice(base + " --ubatch 1");
    ASSERT_EQ(per_token.exit_code, 0) << per_token.err;
    EXPECT_NE(per_token.err.find("routing (one call per token)"), std::string::npos) << per_token.err;
}

TEST(Perplexity, SavedRunComparedWithItselfAndWithFewerExperts) {
    test::TempDir tmp;
    const std::string base = "perplexity -m " + model() + " -f " + write_text(tmp) + " --ctx 16 --chunks 3";
    auto saved = sluice(base + " --save-logits " + tmp.file("base.lp"));
    ASSERT_EQ(saved.exit_code, 0) << saved.err;
    auto same = sluice(base + " --kl-base " + tmp.file("base.lp"));
    ASSERT_EQ(same.exit_code, 0) << same.err;
    EXPECT_NE(same.out.find("mean KL divergence (base || this): 0.000000"), std::string::npos) << same.out;
    EXPECT_NE(same.out.find("top-1 agreement: 100.000%"), std::string::npos) << same.out;
    EXPECT_EQ(ppl_of(same.out), ppl_of(saved.out));
    auto fewer = sluice(base + " --experts-per-token 2 --kl-base " + tmp.file("base.lp"));
    ASSERT_EQ(fewer.exit_code, 0) << fewer.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(fewer.out, m, std::regex(R"(mean KL divergence \(base \|\| this\): ([0-9.]+))")))
        << fewer.out;
    EXPECT_GT(std::stod(m[1]), 0.001);
    EXPECT_NE(fewer.out.find("base PPL: "), std::string::npos);
}

TEST(PerplexityErrors, BadInputGivesOneLine) {
    test::TempDir tmp;
    const std::string text = write_text(tmp);
    const std::string m = "perplexity -m " + model();
    expect_error(m + " -f /no/such/text.txt", "/no/such/text.txt: cannot open the text file");
    expect_error(m + " -f " + text + " --ctx 4", "--ctx 4: perplexity needs a context of at least 8 tokens");
    expect_error(m + " -f " + text + " --ctx 4096", "perplexity with --ctx 4096 needs at least 8192");
    expect_error(m + " -f " + text + " --chunks -2", "--chunks -2: must not be negative");
    expect_error(m + " -f " + text + " --ctx 16 --ubatch 0", "--ubatch 0: must be at least 1");
    expect_error(m + " -f " + text + " --ctx 16 --kl-base " + text, "not a sluice log-probability file");
    expect_error(m + " -f " + text + " --ctx 16 --kl-base " + tmp.file("none.lp"), "none.lp: cannot open the file");
    expect_error(m + " -f " + text + " --ctx 16 --save-logits /no/such/dir/x.lp", "/no/such/dir/x.lp: cannot create");
    auto policy = sluice(m + " -f " + text + " --ctx 16 --mem 64M --cache-policy fifo");   // CLI11's usage error
    EXPECT_NE(policy.exit_code, 0);
    EXPECT_NE(policy.err.find("--cache-policy: fifo not in {lfu,lru}"), std::string::npos) << policy.err;
}

TEST(PerplexityErrors, MismatchedBaseRunIsRefused) {
    test::TempDir tmp;
    const std::string text = write_text(tmp);
    const std::string m = "perplexity -m " + model() + " -f " + text;
    ASSERT_EQ(sluice(m + " --ctx 16 --chunks 2 --save-logits " + tmp.file("b.lp")).exit_code, 0);
    expect_error(m + " --ctx 32 --chunks 2 --kl-base " + tmp.file("b.lp"), "base run used --ctx 16, this run 32");
    expect_error(m + " --ctx 16 --chunks 3 --kl-base " + tmp.file("b.lp"), "base run scored 2 chunks, this run 3");
    test::write_file(tmp.file("other.txt"), "Call me Ishmael. " + test::read_file(text));
    expect_error("perplexity -m " + model() + " -f " + tmp.file("other.txt") + " --ctx 16 --chunks 2 --kl-base " +
                     tmp.file("b.lp"),
                 "base run was over other text");
}

TEST(Stats, RunAndBenchReportRouting) {
    auto run = sluice("run -m " + model() + " --tokens 1,2,3,4 -n 6 --ids --stats --mem 27.5M --cache-policy lru -c 64");
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.err.find("routing (decode, one call per token): expert-use entropy"), std::string::npos) << run.err;
    auto bench = sluice("bench -m " + model() + " -p 8 -n 8 --json --mem 27.5M --cache-policy lfu");
    ASSERT_EQ(bench.exit_code, 0) << bench.err;
    auto j = nlohmann::json::parse(bench.out);
    ASSERT_TRUE(j.contains("routing")) << bench.out;
    const auto& r = j["routing"];
    EXPECT_EQ(r["counted"], "decode, one call per token");
    for (const char* key : {"entropy", "top10_share", "reuse"}) {
        EXPECT_GE(r[key].get<double>(), 0.0) << key;
        EXPECT_LE(r[key].get<double>(), 1.0) << key;
    }
    EXPECT_GT(r["entropy"].get<double>(), 0.0);
    ASSERT_EQ(r["layers"].size(), 4u);
    EXPECT_EQ(r["layers"][0]["calls"], 8);   // one per decode step; prefill is left out
    EXPECT_TRUE(j.contains("prefetch_accuracy"));
}

// llama.cpp's perplexity (its tool's loop over llama.cpp's forward, tests/interop/
// llama_perplexity.mjs: the npm package has the library, not the tools) on the same GGUF and
// text agrees within 1%: the chunking and scoring are the same, the arithmetic close (llama.cpp's
// defaults, F16 KV cache and flash attention, as its tool runs).
TEST(Interop, LlamaCppPerplexityAgreesWithinOnePercent) {
    const std::string interop = test::source_dir() + "/tests/interop";
    if (!std::filesystem::exists(interop + "/node_modules/node-llama-cpp"))
        GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    test::TempDir tmp;
    const std::string text = write_text(tmp);
    for (const char* name : {"qwen3moe-tiny-f32", "qwen3moe-tiny-q8_0", "qwen35moe-tiny-f32", "qwen35moe-tiny-q8_0"}) {
        SCOPED_TRACE(name);
        const std::string gguf = test::fixture(std::string("gguf/") + name + ".gguf");
        auto ours = sluice("perplexity -m " + gguf + " -f " + text + " --ctx 64 --chunks 4");
        ASSERT_EQ(ours.exit_code, 0) << ours.err;
        auto theirs = test::run_command("node " + interop + "/llama_perplexity.mjs " + gguf + " " + text + " --ctx 64 --chunks 4");
        ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
        EXPECT_NE(theirs.out.find("scored 124 of "), std::string::npos) << theirs.out;   // 4 chunks × 31
        std::smatch m;
        ASSERT_TRUE(std::regex_search(theirs.out, m, std::regex(R"(PPL = ([0-9.]+))"))) << theirs.out;
        const double llama = std::stod(m[1]);
        EXPECT_NEAR(ppl_of(ours.out), llama, 0.01 * llama);
    }
}

}  // namespace
}  // namespace sluice
