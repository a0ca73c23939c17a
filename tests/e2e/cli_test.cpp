// The `sluice` program end to end: conversion round trips, the eval logits file, and one clear
// error line (never a crash) for each kind of malformed input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <csignal>
#include <functional>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "error_bound.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "format/tokenizer_meta.h"
#include "reference.h"
#include "runtime/model_tokenizer.h"
#include "tokenizer/chat_template.h"
#include "cli_support.h"
#include "test_support.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

std::string join_ids(const std::vector<int32_t>& ids, const char* sep) {
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? sep : "") + std::to_string(ids[i]);
    return s;
}

std::string qwen3_dir() { return test::fixture("models/qwen3moe-tiny"); }
test::Reference qwen3_ref() { return test::Reference(qwen3_dir() + "/reference.safetensors"); }

using test::sluice;

// Greedy ids from `sluice run` (the default f16 KV cache) and max |logits - reference| from
// `sluice eval` with the references' f32 cache, for prompt `tag`.
void expect_matches_reference(const std::string& model, const std::string& tag) {
    auto ref = qwen3_ref();
    auto prompt = ref.ints("prompt_" + tag);
    auto gen = ref.ints("gen_" + tag);
    auto r = sluice("run -m " + model + " --tokens " + join_ids(prompt, ",") + " -n " + std::to_string(gen.size()) +
                    " --temp 0 --ids");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, join_ids(gen, " ") + "\n");

    test::TempDir tmp;
    auto e = sluice("eval -m " + model + " --tokens " + join_ids(prompt, ",") + " --logits-out " + tmp.file("l.bin") +
                    " --cache-type f32");
    ASSERT_EQ(e.exit_code, 0) << e.err;
    std::string bytes = test::read_file(tmp.file("l.bin"));
    auto want = ref.floats("logits_" + tag);
    ASSERT_EQ(bytes.size(), want.size() * 4);
    std::vector<float> got(want.size());
    std::memcpy(got.data(), bytes.data(), bytes.size());
    // The same computation as tests/model's Qwen3Moe tests: measured 1.3e-6, bound about 10×.
    EXPECT_LE(test::max_abs_diff(got.data(), want.data(), got.size()), 1.5e-5f) << model;
}

TEST(Cli, RunAndEvalOnHfFolder) {
    expect_matches_reference(qwen3_dir(), "a");
    expect_matches_reference(qwen3_dir(), "b");
}

TEST(Cli, RunAndEvalOnLlamaCppGguf) { expect_matches_reference(test::fixture("gguf/qwen3moe-tiny-f32.gguf"), "a"); }

TEST(Cli, ConvertToGgufRoundTrips) {
    test::TempDir tmp;
    for (const char* type : {"f32", "bf16"}) {
        std::string out = tmp.file(std::string("m-") + type + ".gguf");
        auto c = sluice("convert " + qwen3_dir() + " " + out + " --type " + type);
        ASSERT_EQ(c.exit_code, 0) << c.err;
        GgufFile g(out);
        EXPECT_EQ(g.get("general.architecture").as_string(""), "qwen3moe");
        EXPECT_EQ(g.get("qwen3moe.expert_count").as_int(""), 16);
        ASSERT_NE(g.find_tensor("blk.0.ffn_gate_exps.weight"), nullptr);
        EXPECT_EQ(g.find_tensor("blk.0.ffn_down_exps.weight")->ne, (std::vector<int64_t>{32, 64, 16}));
        expect_matches_reference(out, "a");
        expect_matches_reference(out, "b");
    }
}

// --- malformed input: exit code 1 and one line naming the problem ---

void expect_error(const std::string& args, const std::string& needle) {
    auto r = sluice(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
}

// A copy of the tiny model folder that a test may damage.
std::string copy_model(const test::TempDir& tmp) {
    fs::path dst = tmp.path() / "model";
    fs::copy(qwen3_dir(), dst, fs::copy_options::recursive);
    return dst.string();
}

TEST(CliErrors, MissingFile) { expect_error("run -m /no/such/model.gguf --tokens 1", "no such file"); }

TEST(CliErrors, TruncatedGgufHeader) {
    test::TempDir tmp;
    std::string bytes = test::read_file(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    test::write_file(tmp.file("t.gguf"), bytes.substr(0, 100));
    expect_error("run -m " + tmp.file("t.gguf") + " --tokens 1", "truncated GGUF header");
}

TEST(CliErrors, TensorDataPastEndOfFile) {
    test::TempDir tmp;
    std::string bytes = test::read_file(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    test::write_file(tmp.file("t.gguf"), bytes.substr(0, bytes.size() - 4096));
    expect_error("run -m " + tmp.file("t.gguf") + " --tokens 1", "past the end of the file");
}

TEST(CliErrors, UnknownTensorType) {
    test::TempDir tmp;
    std::string path = test::fixture("gguf/qwen3moe-tiny-f32.gguf");
    std::string bytes = test::read_file(path);
    // Patch the type field of the first tensor info: it follows name, n_dims and ne[].
    GgufFile g(path);
    const auto& t = g.tensors()[0];
    std::string needle;
    uint64_t len = t.name.size();
    needle.append(reinterpret_cast<const char*>(&len), 8);
    needle += t.name;
    size_t pos = bytes.find(needle);
    ASSERT_NE(pos, std::string::npos);
    size_t type_at = pos + needle.size() + 4 + 8 * t.ne.size();
    uint32_t bad = 77;
    std::memcpy(&bytes[type_at], &bad, 4);
    test::write_file(tmp.file("t.gguf"), bytes);
    expect_error("run -m " + tmp.file("t.gguf") + " --tokens 1", "unknown tensor type id 77");
}

TEST(CliErrors, ShapeDisagreesWithConfig) {
    test::TempDir tmp;
    std::string dir = copy_model(tmp);
    std::string cfg = test::read_file(dir + "/config.json");
    size_t at = cfg.find("\"moe_intermediate_size\": 32");
    ASSERT_NE(at, std::string::npos);
    cfg.replace(at, 27, "\"moe_intermediate_size\": 48");
    test::write_file(dir + "/config.json", cfg);
    expect_error("run -m " + dir + " --tokens 1", "but config.json implies");
}

TEST(CliErrors, MissingTensor) {
    test::TempDir tmp;
    std::string dir = copy_model(tmp);
    // Rename one tensor in the safetensors header (same length, so offsets stay valid).
    std::string bytes = test::read_file(dir + "/model.safetensors");
    size_t at = bytes.find("model.layers.1.self_attn.q_proj.weight");
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at, 6, "xodel.");
    test::write_file(dir + "/model.safetensors", bytes);
    expect_error("run -m " + dir + " --tokens 1", "missing tensor blk.1.attn_q.weight");
}

TEST(CliErrors, BadJsonConfig) {
    test::TempDir tmp;
    std::string dir = copy_model(tmp);
    test::write_file(dir + "/config.json", "{\"model_type\": \"qwen3_moe\", ");
    expect_error("run -m " + dir + " --tokens 1", "invalid JSON");
}

TEST(CliErrors, UnknownArchitecture) {
    test::TempDir tmp;
    std::string dir = copy_model(tmp);
    std::string cfg = test::read_file(dir + "/config.json");
    cfg.replace(cfg.find("qwen3_moe"), 9, "llama_moe");
    test::write_file(dir + "/config.json", cfg);
    expect_error("run -m " + dir + " --tokens 1", "unknown architecture");
}

// A model whose output norm is NaN: run and eval stop with an error naming the logits rather than
// printing tokens sampled from NaN (or writing a file of them).
TEST(CliErrors, NonFiniteLogitsStopRunAndEval) {
    test::TempDir tmp;
    const std::string path = test::fixture("gguf/qwen3moe-tiny-f32.gguf");
    std::string bytes = test::read_file(path);
    const GgufFile file(path);   // alive while norm points into it
    const GgufTensorInfo* norm = file.find_tensor("output_norm.weight");
    ASSERT_NE(norm, nullptr);
    const float nan = std::nanf("");
    for (uint64_t at = norm->offset; at < norm->offset + norm->bytes; at += 4) std::memcpy(&bytes[at], &nan, 4);
    test::write_file(tmp.file("nan.gguf"), bytes);
    expect_error("run -m " + tmp.file("nan.gguf") + " --tokens 1,2,3 -n 4 --ids", "logits at position 2 are not finite");
    expect_error("eval -m " + tmp.file("nan.gguf") + " --tokens 1,2,3 --logits-out " + tmp.file("l.bin"),
                 "logits at position 0 are not finite");
    EXPECT_FALSE(fs::exists(tmp.file("l.bin")));
}

TEST(CliErrors, TokenOutsideVocabulary) { expect_error("run -m " + qwen3_dir() + " --tokens 1,99999", "outside the vocabulary"); }

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(Synth, WritesALoadableModelOfTheGivenGeometry) {
    test::TempDir tmp;
    std::string out = tmp.file("s.gguf");
    auto r = sluice("synth --geometry " + qwen3_dir() + "/config.json --type f16 --layers 2 --seed 5 -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    GgufFile g(out);
    EXPECT_EQ(g.get("qwen3moe.block_count").as_int(""), 2);
    EXPECT_EQ(g.find_tensor("blk.1.ffn_up_exps.weight")->type, GgmlType::F16);
    auto run = sluice("run -m " + out + " --tokens 1,2,3 -n 4 --ids");
    ASSERT_EQ(run.exit_code, 0) << run.err;
    // The same seed writes the same file.
    auto again = sluice("synth --geometry " + qwen3_dir() + "/config.json --type f16 --layers 2 --seed 5 -o " + tmp.file("t.gguf"));
    ASSERT_EQ(again.exit_code, 0);
    EXPECT_EQ(test::read_file(out), test::read_file(tmp.file("t.gguf")));
}

TEST(Synth, RejectsUnknownGeometry) { expect_error("synth --geometry qwen9-1t -o /tmp/x.gguf", "unknown geometry"); }

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

const char* kPromptA = "168,15,493,72,22,299,466,75,360,263,162,433,95,75,213,47,319,287,218,404,124,116,293,167";

TEST(Budget, InjectedReadErrorsEndGenerationWithAnError) {
    std::string model = test::fixture("gguf/qwen3moe-tiny-f32.gguf");
    const std::string args = " run -m " + model + " --tokens " + kPromptA + " -n 16 --ids --mem 27.5M -c 64";
    auto r = test::run_command("SLUICE_FAULT=eio@30 " + test::sluice_binary() + args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "") << "no tokens may be printed after a failed read";
    EXPECT_NE(r.err.find("Input/output error"), std::string::npos) << r.err;
    // Short, interrupted and would-block reads are read again: the same tokens as without faults.
    auto clean = test::run_command(test::sluice_binary() + args);
    ASSERT_EQ(clean.exit_code, 0) << clean.err;
    auto retried = test::run_command("SLUICE_FAULT=short@30,eintr@31,eagain@40 " + test::sluice_binary() + args);
    EXPECT_EQ(retried.exit_code, 0) << retried.err;
    EXPECT_EQ(retried.out, clean.out);
}

// Under --mem the routers' predictions are read ahead; --no-prefetch reads only what is routed,
// and the tokens do not change. (The scratch of 256-token ubatches leaves the cache too small
// for every expert, so decode reads.)
TEST(Budget, NoPrefetchReadsNothingAheadAndKeepsTheTokens) {
    const std::string run = "run -m " + test::fixture("gguf/qwen3moe-tiny-f32.gguf") + " --tokens " + kPromptA +
                            " -n 8 --ids --mem 27.5M -c 64 --ubatch 256 --stats";
    auto with = sluice(run), without = sluice(run + " --no-prefetch");
    ASSERT_EQ(with.exit_code, 0) << with.err;
    ASSERT_EQ(without.exit_code, 0) << without.err;
    EXPECT_EQ(with.out, without.out);
    EXPECT_EQ(with.err.find(", prefetch 0 issued", with.err.find("decode I/O")), std::string::npos) << with.err;
    EXPECT_NE(without.err.find(", prefetch 0 issued", without.err.find("decode I/O")), std::string::npos) << without.err;
}

// GLM-4.5 and DeepSeek-V3 under --mem (dense first layers, sigmoid routing, DeepSeek's latent
// cache) write the reference's greedy tokens, as they do with every expert mapped.
TEST(Budget, DeepSeekFamiliesStreamedWriteTheUncappedTokens) {
    for (const char* family : {"glm4moe", "deepseek3"}) {
        SCOPED_TRACE(family);
        const test::Reference ref(test::fixture(std::string("models/") + family + "-tiny/reference.safetensors"));
        std::string prompt, want;
        for (int32_t t : ref.ints("prompt_a")) prompt += (prompt.empty() ? "" : ",") + std::to_string(t);
        for (int32_t t : ref.ints("gen_a")) want += (want.empty() ? "" : " ") + std::to_string(t);
        const std::string run = "run -m " + test::fixture(std::string("gguf/") + family + "-tiny-f32.gguf") +
                                " --tokens " + prompt + " -n 16 --ids -c 64";
        auto free = sluice(run), capped = sluice(run + " --mem 28M --stats");
        ASSERT_EQ(free.exit_code, 0) << free.err;
        ASSERT_EQ(capped.exit_code, 0) << capped.err;
        EXPECT_EQ(free.out, want + "\n");
        EXPECT_EQ(capped.out, free.out);
        ASSERT_NE(capped.err.find("prefill I/O: read "), std::string::npos) << capped.err;   // streamed
        EXPECT_EQ(capped.err.find("prefill I/O: read 0"), std::string::npos) << capped.err;
    }
}

// bench under a budget: one JSON object with the counts asked for and the experts read.
TEST(Bench, JsonReportsTheRunUnderABudget) {
    for (const char* routing : {"router", "uniform"}) {
        SCOPED_TRACE(routing);
        auto r = sluice("bench -m " + test::fixture("gguf/qwen3moe-tiny-f32.gguf") + " --mem 27.5M -p 8 -n 4 --json --routing " +
                        routing);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const nlohmann::json j = nlohmann::json::parse(r.out);
        EXPECT_EQ(j["prefill_tokens"], 8);
        EXPECT_EQ(j["decode_tokens"], 4);
        EXPECT_GT(j["bytes_read"].get<uint64_t>(), 0u);
        EXPECT_LT(j["hit_rate"].get<double>(), 1.0);
        EXPECT_EQ(j["expert_bytes_per_token"], 4 * 4 * 3 * 32 * 64 * 4);   // L · K · 3 projections · f32
    }
}

// bench --depth runs that many tokens first, untimed: the counts are the measured ones, and the
// KV cache ends holding all of them.
TEST(Bench, DepthRunsAContextBeforeTheMeasuredTokens) {
    const std::string bench = "bench -m " + test::fixture("gguf/qwen3moe-tiny-f32.gguf") + " -p 8 -n 4 --json";
    auto r = sluice(bench + " --depth 40");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["depth"], 40);
    EXPECT_EQ(j["prefill_tokens"], 8);
    EXPECT_EQ(j["decode_tokens"], 4);
    EXPECT_EQ(j["context_tokens"], 40 + 8 + 4);
    auto shallow = sluice(bench);
    ASSERT_EQ(shallow.exit_code, 0) << shallow.err;
    EXPECT_EQ(nlohmann::json::parse(shallow.out)["context_tokens"], 8 + 4);
    auto bad = sluice(bench + " --depth -1");
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.err.find("--depth must be at least 0, got -1"), std::string::npos) << bad.err;
}

// inspect's plan at a long context: 4 layers × 2 × 2 KV heads × 32 values × 32768 positions,
// 2 bytes a value in f16 (the default) = 32 MiB, 4 in f32 = 64 MiB, and --experts-per-token
// changes K.
TEST(Inspect, PrintsThePlanAtALongContext) {
    const std::string model = test::fixture("gguf/qwen3moe-tiny-f32.gguf");
    auto r = sluice("inspect -m " + model + " --mem 100M -c 32768");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("blk.0.attn_q.weight"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("KV / state:         32.00 MiB (32768 tokens, KV cache in f16)"), std::string::npos) << r.out;
    auto f32 = sluice("inspect -m " + model + " --mem 100M -c 32768 --cache-type f32");
    ASSERT_EQ(f32.exit_code, 0) << f32.err;
    EXPECT_NE(f32.out.find("KV / state:         64.00 MiB (32768 tokens, KV cache in f32)"), std::string::npos) << f32.out;
    EXPECT_NE(r.out.find("experts per token:    4 "), std::string::npos) << r.out;
    auto k2 = sluice("inspect -m " + model + " --mem 100M -c 32768 --experts-per-token 2");
    ASSERT_EQ(k2.exit_code, 0) << k2.err;
    EXPECT_NE(k2.out.find("experts per token:    2 "), std::string::npos) << k2.out;
}

// DeepSeek's latent cache in the plan: 4 layers × (32 latent + 16 RoPE key) values × 32768
// positions × 2 bytes (f16) = 12 MiB, where its 4 heads' own keys and values (4 × (32 + 16))
// would take 4 times that; and the dense first layer shows with no experts.
TEST(Inspect, CountsDeepSeeksLatentCacheAndDenseLayers) {
    auto r = sluice("inspect -m " + test::fixture("gguf/deepseek3-tiny-q8_0.gguf") + " --mem 100M -c 32768");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("KV / state:         12.00 MiB (32768 tokens, KV cache in f16)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cache 48 values per token and layer"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("0      dense (no experts)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("best 2 of 4 groups, routed scale 2.5; 1 leading dense layers"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(100.0% of 48 experts)"), std::string::npos) << r.out;   // 3 MoE layers × 16, not 4
}

// The prefill ubatch in the plan: under --mem the largest power of two up to the context whose
// scratch fits in an eighth of the budget (a token of the tiny model needs ~10 KiB: 1024 tokens
// in 100M), or --ubatch's; 0 is refused naming the option.
TEST(Inspect, PrintsThePrefillUbatch) {
    const std::string model = test::fixture("gguf/qwen3moe-tiny-f32.gguf");
    for (const auto& [args, want] : {std::pair{" --mem 100M", "prefill ubatch:       1024 tokens"},
                                     std::pair{" --mem 100M -c 300", "prefill ubatch:       256 tokens"},
                                     std::pair{" --mem 100M --ubatch 24", "prefill ubatch:       24 tokens"},
                                     std::pair{"", "prefill ubatch:       256 tokens"}}) {
        auto r = sluice("inspect -m " + model + args);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find(want), std::string::npos) << args << "\n" << r.out;
    }
    expect_error("bench -m " + model + " --ubatch 0", "--ubatch 0: must be at least 1");
}

// --experts-per-token: K = the model's own 4 gives the model's logits, K = 2 others.
TEST(Run, ExpertsPerTokenChangesTheExpertsUsed) {
    const std::string model = test::fixture("gguf/qwen3moe-tiny-f32.gguf");
    test::TempDir tmp;
    auto logits = [&](const std::string& extra) {
        auto e = sluice("eval -m " + model + " --tokens " + kPromptA + " --logits-out " + tmp.file("l.bin") + extra);
        EXPECT_EQ(e.exit_code, 0) << e.err;
        return test::read_file(tmp.file("l.bin"));
    };
    const std::string base = logits("");
    EXPECT_EQ(logits(" --experts-per-token 4"), base);
    EXPECT_NE(logits(" --experts-per-token 2"), base);
}

TEST(Budget, TooSmallBudgetIsRefusedWithTheSizeNeeded) {
    expect_error("run -m " + test::fixture("gguf/qwen3moe-tiny-f32.gguf") + " --tokens 1 --mem 4M", "needs at least");
}

// tools/memcap, or "" where it cannot cap (not root, no memory cgroup): the test then skips.
std::string memcap_if_usable() {
    const std::string memcap = test::source_dir() + "/tools/memcap";
    return test::run_command(memcap + " 64M true").exit_code == 0 ? memcap : "";
}

// Runs `gen` (a sluice command line) without a budget, then under memcap `cap` with
// `--mem budget_mib`M --stats: the same stdout, and memcap's peak (page cache included) under the
// budget. Returns the capped run, whose stderr holds --stats.
test::CommandResult expect_same_output_within_budget(const std::string& memcap, const std::string& gen,
                                                     const std::string& cap, uint64_t budget_mib) {
    auto free_run = test::run_command(test::sluice_binary() + gen);
    EXPECT_EQ(free_run.exit_code, 0) << free_run.err;
    auto capped = test::run_command(memcap + " " + cap + " " + test::sluice_binary() + gen + " --mem " +
                                    std::to_string(budget_mib) + "M --stats");
    EXPECT_EQ(capped.exit_code, 0) << capped.err;
    EXPECT_EQ(capped.out, free_run.out);
    const size_t at = capped.err.find("memcap: peak MiB=");
    EXPECT_NE(at, std::string::npos) << capped.err;
    if (at != std::string::npos) {
        EXPECT_LT(std::stoull(capped.err.substr(at + 17)), budget_mib) << capped.err;
    }
    return capped;
}

// A model several times larger than a memory cap that includes the page cache runs to the same
// tokens as without a cap, and the cgroup's peak stays under the budget.
TEST(Budget, ModelLargerThanTheCapRunsUnderMemcap) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine are not part of the budget";
#endif
    const std::string memcap = memcap_if_usable();
    if (memcap.empty()) GTEST_SKIP() << "memcap needs root and cgroups";
    test::TempDir tmp;
    std::string model = tmp.file("big.gguf");
    auto s = sluice("synth --geometry " + test::source_dir() + "/tests/data/synth-moe-config.json --type bf16 -o " + model);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    const uint64_t size = std::filesystem::file_size(model);
    const uint64_t cap = 400ull << 20;
    ASSERT_GT(size, 3 * cap);
    const std::string gen = " run -m " + model + " --tokens 1,2,3,4,5,6,7,8 -n 6 --ids -c 64";
    auto capped = expect_same_output_within_budget(memcap, gen, "400M", 360);
    EXPECT_NE(capped.err.find("with page cache (cgroup)"), std::string::npos) << capped.err;   // --stats sees the cap
}

// A long prompt under a cap (issue 17): 256 tokens in ubatches of 64, each touching every expert
// of every layer, through a cache of a sixth of the experts under memcap: the same tokens as
// without a budget, the cgroup's peak (page cache included) under the budget, and the cache kept
// experts from one ubatch to the next (prefill hit rate above 0 without prefetch, which would
// count experts read just ahead as hits; every expert of the first ubatch is a miss).
TEST(Budget, LongPrefillStaysInsideTheBudgetUnderMemcap) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine are not part of the budget";
#endif
    const std::string memcap = memcap_if_usable();
    if (memcap.empty()) GTEST_SKIP() << "memcap needs root and cgroups";
    test::TempDir tmp;
    std::string model = tmp.file("big.gguf");
    auto s = sluice("synth --geometry " + test::source_dir() + "/tests/data/synth-moe-config.json --type bf16 -o " + model);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    std::vector<int32_t> prompt;
    for (int i = 0; i < 256; ++i) prompt.push_back((i * 1031 + 7) % 4096);
    const std::string gen = " run -m " + model + " --tokens " + join_ids(prompt, ",") + " -n 4 --ids -c 300 --ubatch 64 --no-prefetch";
    auto capped = expect_same_output_within_budget(memcap, gen, "400M", 360);
    const size_t at = capped.err.find("prefill I/O: read ");
    ASSERT_NE(at, std::string::npos) << capped.err;
    const size_t rate = capped.err.find("expert hit rate ", at);
    ASSERT_NE(rate, std::string::npos) << capped.err;
    EXPECT_GT(std::stod(capped.err.substr(rate + 16)), 0.0) << capped.err;
}

// At a long context the KV cache is most of the budget: 8 layers × 2 × 4 KV heads × 128 values
// × 8192 positions in f32 (4 bytes a value), × 16384 in f16 (the default; 2 bytes) = 256 MiB, and
// × 32768 in q8_0 (34 bytes per 32 values) = 272 MiB, of a 420 MiB budget. Every expert of every
// layer is used (--experts-per-token 16), so the cache fills to whatever the plan gives it: a plan
// that counts the KV cache short hands that memory to the cache as well, and the process overruns
// the budget.
TEST(Budget, LongContextKvCacheStaysInsideTheBudgetUnderMemcap) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine are not part of the budget";
#endif
    const std::string memcap = memcap_if_usable();
    if (memcap.empty()) GTEST_SKIP() << "memcap needs root and cgroups";
    test::TempDir tmp;
    const std::string config = tmp.file("config.json");
    test::write_file(config, R"({"model_type": "qwen3_moe", "vocab_size": 4096, "hidden_size": 1024, "num_hidden_layers": 8,
        "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 128, "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "num_experts": 16, "num_experts_per_tok": 4,
        "moe_intermediate_size": 256, "norm_topk_prob": true})");
    const std::string model = tmp.file("long.gguf");
    auto s = sluice("synth --geometry " + config + " --type bf16 -o " + model);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    struct Case {
        const char* flag;   // empty: the default
        int ctx;
        const char* state;
    };
    for (const Case& c : {Case{" --cache-type f32", 8192, "256.00 MiB (8192 tokens, KV cache in f32)"},
                          Case{"", 16384, "256.00 MiB (16384 tokens, KV cache in f16)"},
                          Case{" --cache-type q8_0", 32768, "272.00 MiB (32768 tokens, KV cache in q8_0)"}}) {
        SCOPED_TRACE(c.state);
        const std::string ctx = " -c " + std::to_string(c.ctx) + " --experts-per-token 16" + c.flag;
        const std::string gen = " run -m " + model + " --tokens 1,2,3,4,5,6,7,8 -n 4 --ids" + ctx;
        auto inspect = sluice("inspect -m " + model + " --mem 420M" + ctx);
        ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
        EXPECT_NE(inspect.out.find(std::string("KV / state:         ") + c.state), std::string::npos) << inspect.out;
        expect_same_output_within_budget(memcap, gen, "460M", 420);
    }
}

// --cache-type: a format outside f32, f16, q8_0 is refused naming the option.
TEST(CliErrors, UnknownCacheTypeIsRefused) {
    expect_error("run -m " + test::fixture("gguf/qwen3moe-tiny-f32.gguf") + " --tokens 1 --cache-type q4_0",
                 "--cache-type: expected f32, f16 or q8_0, got 'q4_0'");
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// llama.cpp (node-llama-cpp, installed by tests/interop/setup.sh) reads the GGUF files sluice
// writes and continues prompt_a greedily exactly as the reference does.
TEST(Interop, LlamaCppGivesTheReferenceTokensOnOurGguf) {
    const std::string interop = test::source_dir() + "/tests/interop";
    if (!std::filesystem::exists(interop + "/node_modules/node-llama-cpp"))
        GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    auto ref = qwen3_ref();
    auto prompt = ref.ints("prompt_a");
    auto gen = ref.ints("gen_a");
    test::TempDir tmp;
    for (const char* type : {"f32", "bf16"}) {
        std::string out = tmp.file(std::string("m-") + type + ".gguf");
        ASSERT_EQ(sluice("convert " + qwen3_dir() + " " + out + " --type " + type).exit_code, 0);
        auto r = test::run_command("node " + interop + "/llama_greedy.mjs " + out + " --tokens " + join_ids(prompt, ",") +
                                   " -n " + std::to_string(gen.size()));
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, join_ids(gen, " ") + "\n") << type;
    }
}

// The same for the hybrid architectures: llama.cpp reads our qwen35moe (both Hugging Face
// layouts) and qwen3next conversions and continues prompt_a as the reference does. f32: on bf16
// weights llama.cpp rounds the activations to bf16 too, which flips a close Qwen3-Next token.
TEST(Interop, LlamaCppGivesTheReferenceTokensOnOurHybridGguf) {
    const std::string interop = test::source_dir() + "/tests/interop";
    if (!std::filesystem::exists(interop + "/node_modules/node-llama-cpp"))
        GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    test::TempDir tmp;
    for (std::string dir : {test::fixture("models/qwen35moe-tiny"), test::fixture("models/qwen35moe-tiny-published"),
                            test::source_dir() + "/tests/data/qwen3next-tiny"}) {
        test::Reference ref(dir + "/reference.safetensors");
        auto prompt = ref.ints("prompt_a");
        auto gen = ref.ints("gen_a");
        std::string out = tmp.file("m.gguf");
        ASSERT_EQ(sluice("convert " + dir + " " + out + " --type f32").exit_code, 0);
        auto r = test::run_command("node " + interop + "/llama_greedy.mjs " + out + " --tokens " + join_ids(prompt, ",") +
                                   " -n " + std::to_string(gen.size()));
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, join_ids(gen, " ") + "\n") << dir;
    }
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// Synthetic models carry a byte-level tokenizer so llama.cpp loads them; both engines then
// continue the same prompt with the same greedy tokens.
TEST(Interop, LlamaCppAgreesWithSluiceOnASyntheticModel) {
    const std::string interop = test::source_dir() + "/tests/interop";
    if (!std::filesystem::exists(interop + "/node_modules/node-llama-cpp"))
        GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    test::TempDir tmp;
    std::string model = tmp.file("s.gguf");
    ASSERT_EQ(sluice("synth --geometry " + test::source_dir() + "/tests/data/synth-moe-config.json --type f16 --layers 2 -o " +
                     model).exit_code, 0);
    auto ours = sluice("run -m " + model + " --tokens 5,6,7,8 -n 8 --ids");
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    auto peer = test::run_command("node " + interop + "/llama_greedy.mjs " + model + " --tokens 5,6,7,8 -n 8");
    ASSERT_EQ(peer.exit_code, 0) << peer.err;
    EXPECT_EQ(peer.out, ours.out);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// A small Qwen3-MoE geometry whose rows are whole 256-value super-blocks (the fixtures' 64 and 32
// are not, so their K-quant conversions fall back to 32-value types), written as config.json.
std::string small_config(const test::TempDir& tmp, int layers) {
    const std::string path = tmp.file("config.json");
    test::write_file(path, R"({"model_type": "qwen3_moe", "vocab_size": 512, "hidden_size": 256, "num_hidden_layers": )" +
                               std::to_string(layers) +
                               R"(, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "max_position_embeddings": 512,
                                "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "num_experts": 8, "num_experts_per_tok": 2,
                                "moe_intermediate_size": 256, "norm_topk_prob": true})");
    return path;
}

std::vector<float> sluice_logits(const std::string& model, const std::vector<int32_t>& tokens, const test::TempDir& tmp,
                                 const std::string& options = "") {
    auto e = sluice("eval -m " + model + " --tokens " + join_ids(tokens, ",") + " --logits-out " + tmp.file("ours.bin") + options);
    EXPECT_EQ(e.exit_code, 0) << e.err;
    const std::string bytes = test::read_file(tmp.file("ours.bin"));
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), v.size() * 4);
    return v;
}

// Logits of a synthetic model written in `type` against the same model in f32: synth draws every
// matrix from the same Gaussian values whatever the type (rows of 256 values), so the f32 file is
// the unquantised model and the difference is the quantisation alone. Returns the rms error
// relative to the f32 logits' rms (NaN if any logit is NaN) and the share of positions whose
// argmax agrees.
struct QuantError {
    double relative_rms = 0, top1 = 0;
};

QuantError quantised_vs_float(const std::string& quantised, const std::string& float_model, const std::vector<int32_t>& prompt,
                              const test::TempDir& tmp, int experts = 8) {
    // Every expert of the layer (K = E, 8 by default): a random router's margins are tiny, and a routing
    // decision flipped by rounding would swamp the quantisation error being measured.
    const std::string all_experts = " --experts-per-token " + std::to_string(experts);
    const std::vector<float> q = sluice_logits(quantised, prompt, tmp, all_experts);
    const std::vector<float> f = sluice_logits(float_model, prompt, tmp, all_experts);
    EXPECT_EQ(q.size(), f.size());
    if (q.size() != f.size() || f.empty()) return {std::nan(""), 0};
    const size_t V = f.size() / prompt.size();
    double err2 = 0, ref2 = 0;
    int same = 0;
    for (size_t i = 0; i < f.size(); ++i) {
        err2 += double(q[i] - f[i]) * double(q[i] - f[i]);
        ref2 += double(f[i]) * f[i];
    }
    for (size_t t = 0; t < prompt.size(); ++t) {
        const float *qr = q.data() + t * V, *fr = f.data() + t * V;
        same += std::max_element(qr, qr + V) - qr == std::max_element(fr, fr + V) - fr;
    }
    return {std::sqrt(err2 / ref2), double(same) / double(prompt.size())};
}

// Every quantised type end to end, through `synth` and `eval`, compared with the float model.
// The error of a type on these bytes is deterministic (only the order of float sums changes with
// the instruction set), so each bound is 1.5× the relative rms error measured; a kernel that
// loses a block, a scale or a sign, or writes NaN (eval then fails), goes past it.
TEST(Synth, EveryQuantisedTypeStaysWithinItsErrorOfTheFloatModel) {
    test::TempDir tmp;
    const std::string config = small_config(tmp, 2);
    const std::string f32 = tmp.file("f32.gguf");
    ASSERT_EQ(sluice("synth --geometry " + config + " --type f32 --seed 3 -o " + f32).exit_code, 0);
    const std::vector<int32_t> prompt = {5, 17, 300, 42, 99, 7, 256, 511, 3, 64, 128, 200};
    struct Bound {
        const char* type;
        double max_relative_rms;
    };
    // 1.5× the relative rms error measured (AVX-512): q8_0 0.020, q6_k 0.053, q5_k 0.104, q5_1 0.101,
    // q5_0 0.128, q4_k 0.201, q4_1 0.202, q4_0 0.255, iq4_nl 0.209, iq4_xs 0.212, q3_k 0.398,
    // q2_k 0.773, iq2_xxs 0.887 (uncorrelated logits would score √2).
    const Bound bounds[] = {{"q8_0", 0.03},  {"q6_k", 0.08},   {"q5_k", 0.156},  {"q5_1", 0.152},
                            {"q5_0", 0.192}, {"q4_k", 0.30},   {"q4_1", 0.30},   {"q4_0", 0.38},
                            {"iq4_nl", 0.31}, {"iq4_xs", 0.32}, {"q3_k", 0.60},  {"q2_k", 1.16},
                            {"iq2_xxs", 1.33}};
    for (const Bound& b : bounds) {
        SCOPED_TRACE(b.type);
        const std::string out = tmp.file(std::string(b.type) + ".gguf");
        auto s = sluice("synth --geometry " + config + " --type " + b.type + " --seed 3 -o " + out);
        ASSERT_EQ(s.exit_code, 0) << s.err;
        EXPECT_EQ(type_name(GgufFile(out).find_tensor("blk.0.ffn_up_exps.weight")->type), std::string(b.type));
        const QuantError e = quantised_vs_float(out, f32, prompt, tmp);
        std::printf("%-7s relative rms error %.4f, top-1 agreement %.2f\n", b.type, e.relative_rms, e.top1);
        EXPECT_LE(e.relative_rms, b.max_relative_rms);
    }
}

// synth --type q4_k_m and iq2_mix (format/type_recipe.h) give each tensor its type; the mixes
// run and stay within their error of the float model (1.5× measured: q4_k_m 0.184, iq2_mix 0.378).
TEST(Synth, TypeMixesGiveEachTensorItsType) {
    test::TempDir tmp;
    const std::string config = small_config(tmp, 8);
    const std::string f32 = tmp.file("f32.gguf");
    ASSERT_EQ(sluice("synth --geometry " + config + " --type f32 --seed 3 -o " + f32).exit_code, 0);
    struct Expect {
        const char* tensor;
        const char* q4_k_m;
        const char* iq2_mix;
    };
    // use_more_bits with 8 layers: 0, 3, 6, 7.
    const Expect expect[] = {{"output.weight", "q6_k", "q6_k"},
                             {"token_embd.weight", "q4_k", "q4_k"},
                             {"blk.0.attn_q.weight", "q4_k", "q4_k"},
                             {"blk.0.attn_v.weight", "q6_k", "q6_k"},
                             {"blk.1.attn_v.weight", "q4_k", "q4_k"},
                             {"blk.0.ffn_down_exps.weight", "q6_k", "q2_k"},
                             {"blk.1.ffn_down_exps.weight", "q4_k", "q2_k"},
                             {"blk.1.ffn_gate_exps.weight", "q4_k", "iq2_xxs"},
                             {"blk.3.ffn_up_exps.weight", "q4_k", "iq2_xxs"},
                             {"blk.2.ffn_gate_inp.weight", "f32", "f32"}};
    const std::vector<int32_t> prompt = {5, 17, 300, 42, 99, 7, 256, 511, 3, 64, 128, 200};
    for (const char* mix : {"q4_k_m", "iq2_mix"}) {
        SCOPED_TRACE(mix);
        const std::string out = tmp.file(std::string(mix) + ".gguf");
        auto s = sluice("synth --geometry " + config + " --type " + mix + " --seed 3 -o " + out);
        ASSERT_EQ(s.exit_code, 0) << s.err;
        {
            GgufFile g(out);
            for (const Expect& e : expect)
                EXPECT_EQ(type_name(g.find_tensor(e.tensor)->type), std::string(mix[0] == 'q' ? e.q4_k_m : e.iq2_mix))
                    << e.tensor;
        }
        const QuantError e = quantised_vs_float(out, f32, prompt, tmp);
        std::printf("%-7s relative rms error %.4f, top-1 agreement %.2f\n", mix, e.relative_rms, e.top1);
        EXPECT_LE(e.relative_rms, mix[0] == 'q' ? 0.276 : 0.567);
    }
    expect_error("synth --geometry " + config + " --type q9_mix -o " + tmp.file("x.gguf"),
                 "--type: unknown type 'q9_mix' (a type name, q4_k_m or iq2_mix)");
    expect_error("synth --geometry " + config + " --type iq3_xxs -o " + tmp.file("x.gguf"),
                 "synth: type iq3_xxs is not supported for writing");
}

// IQ3_XXS and IQ1_M files that llama.cpp quantised (tests/data/iq, tools/iq_vectors/make.sh)
// from a synthetic float model, which synth writes again here: within 1.5× of the error measured
// against it for iq3_xxs (0.461); iq1_m's error (1.057, random Gaussian weights at 1.75 bits) is
// near the √2 of uncorrelated logits, so its bound is 1.2, below that.
TEST(Synth, LlamaCppIqFilesStayWithinTheirErrorOfTheFloatModel) {
    test::TempDir tmp;
    const std::string data = test::source_dir() + "/tests/data/iq/";
    const std::string f32 = tmp.file("f32.gguf");
    ASSERT_EQ(sluice("synth --geometry " + data + "tiny-config.json --type f32 --seed 3 -o " + f32).exit_code, 0);
    const std::vector<int32_t> prompt = {5, 17, 300, 42, 99, 7, 256, 511, 3, 64, 128, 200};
    for (const auto& [type, bound] : {std::pair{"iq3_xxs", 0.69}, {"iq1_m", 1.2}}) {
        SCOPED_TRACE(type);
        const std::string model = data + "tiny-" + type + ".gguf";
        EXPECT_EQ(type_name(GgufFile(model).find_tensor("blk.0.ffn_up_exps.weight")->type), std::string(type));
        const QuantError e = quantised_vs_float(model, f32, prompt, tmp, 4);
        std::printf("%-7s relative rms error %.4f, top-1 agreement %.2f\n", type, e.relative_rms, e.top1);
        EXPECT_LE(e.relative_rms, bound);
    }
}

// --type q4_k_m: llama.cpp's Q4_K_M mix. With 8 layers, use_more_bits picks layers 0, 3, 6, 7.
TEST(Cli, ConvertQ4KMGivesTheSensitiveTensorsQ6K) {
    test::TempDir tmp;
    const std::string src = tmp.file("f16.gguf");
    ASSERT_EQ(sluice("synth --geometry " + small_config(tmp, 8) + " --type f16 -o " + src).exit_code, 0);
    const std::string out = tmp.file("mix.gguf");
    auto c = sluice("convert " + src + " " + out + " --type q4_k_m");
    ASSERT_EQ(c.exit_code, 0) << c.err;
    GgufFile g(out);
    auto type_of = [&](const std::string& name) { return std::string(type_name(g.find_tensor(name)->type)); };
    EXPECT_EQ(type_of("output.weight"), "q6_k");
    EXPECT_EQ(type_of("token_embd.weight"), "q4_k");
    EXPECT_EQ(type_of("output_norm.weight"), "f32");
    EXPECT_EQ(type_of("blk.0.ffn_gate_inp.weight"), "f32");
    for (int l = 0; l < 8; ++l) {
        const std::string more = (l == 0 || l == 3 || l == 6 || l == 7) ? "q6_k" : "q4_k";
        const std::string p = "blk." + std::to_string(l) + ".";
        EXPECT_EQ(type_of(p + "attn_v.weight"), more) << l;
        EXPECT_EQ(type_of(p + "ffn_down_exps.weight"), more) << l;
        EXPECT_EQ(type_of(p + "attn_q.weight"), "q4_k") << l;
        EXPECT_EQ(type_of(p + "ffn_up_exps.weight"), "q4_k") << l;
    }
    // Experts may take another type than the dense part.
    const std::string split = tmp.file("split.gguf");
    ASSERT_EQ(sluice("convert " + src + " " + split + " --type q4_k_m --expert-type q8_0").exit_code, 0);
    GgufFile s(split);
    EXPECT_EQ(type_name(s.find_tensor("blk.0.ffn_down_exps.weight")->type), std::string("q8_0"));
    EXPECT_EQ(type_name(s.find_tensor("blk.0.attn_v.weight")->type), std::string("q6_k"));
    expect_error("convert " + src + " " + tmp.file("x.gguf") + " --type q9_z", "unknown or unsupported type 'q9_z'");
}

std::string interop_dir() { return test::source_dir() + "/tests/interop"; }
bool have_llama() { return std::filesystem::exists(interop_dir() + "/node_modules/node-llama-cpp"); }

// llama.cpp's logits at the last of `tokens` (its precise mode: F32 KV cache, no flash
// attention, so that only the weights' arithmetic is compared).
std::vector<float> llama_last_logits(const std::string& model, const std::vector<int32_t>& tokens, const test::TempDir& tmp) {
    const std::string out = tmp.file("llama-logits.bin");
    auto r = test::run_command("node " + interop_dir() + "/llama_greedy.mjs " + model + " --tokens " + join_ids(tokens, ",") +
                               " -n 1 --precise --logits-out " + out);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string bytes = test::read_file(out);
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), v.size() * 4);
    return v;
}

// On quantised files llama.cpp and sluice compute the same thing: 8-bit activations rounded the
// same way, integer block sums, one float scale per block; their logits are bit-identical at
// most positions. Where llama.cpp sums in another order (its batched kernels) an activation on a
// rounding boundary can land one 8-bit step (amax/127) apart, and the tiny models carry that
// into the logits: measured up to 7.6e-3 (one position of 96); 2e-2 is allowed, and the top-1
// token must agree everywhere. Every third position of prompt_a (llama.cpp runs each prefix) on
// llama.cpp's q8_0 files and on our q4_k conversion (Q5_0 blocks: 64-value rows).
TEST(Interop, LlamaCppLogitsEqualOursOnQuantisedGguf) {
    if (!have_llama()) GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    test::TempDir tmp;
    const std::string q4_k = tmp.file("ours-q4_k.gguf");
    ASSERT_EQ(sluice("convert " + qwen3_dir() + " " + q4_k + " --type q4_k").exit_code, 0);
    const std::vector<std::pair<std::string, std::string>> files = {
        {test::fixture("gguf/qwen3moe-tiny-q8_0.gguf"), qwen3_dir()},
        {test::fixture("gguf/qwen35moe-tiny-q8_0.gguf"), test::fixture("models/qwen35moe-tiny")},
        {test::fixture("gguf/glm4moe-tiny-q8_0.gguf"), test::fixture("models/glm4moe-tiny")},
        {q4_k, qwen3_dir()}};
    for (const auto& [model, dir] : files) {
        SCOPED_TRACE(model);
        const auto prompt = test::Reference(dir + "/reference.safetensors").ints("prompt_a");
        const std::vector<float> ours = sluice_logits(model, prompt, tmp, " --cache-type f32");   // as --precise
        const size_t V = ours.size() / prompt.size();
        float worst = 0;
        for (size_t t = 0; t < prompt.size(); t += 3) {
            const std::vector<float> theirs = llama_last_logits(model, {prompt.begin(), prompt.begin() + long(t) + 1}, tmp);
            ASSERT_EQ(theirs.size(), V);
            const float* row = ours.data() + t * V;
            worst = test::worse(worst, test::max_abs_diff(row, theirs.data(), V));
            EXPECT_EQ(std::max_element(row, row + V) - row, std::max_element(theirs.begin(), theirs.end()) - theirs.begin())
                << "position " << t;
        }
        EXPECT_LE(worst, 2e-2f);
    }
}

// DeepSeek-V3's q8_0 file keeps attn_k_b in f16, whose product llama.cpp takes with the query
// rounded to f16 (its F16 dot type) and sluice in float32; on these random-weight models such a
// rounding flips a routing decision now and then, so the two engines' logits differ by more than
// an 8-bit step. What must hold is that sluice is as faithful to the float model as llama.cpp on
// the same file: its logits no further from the transformers reference (rms, every third
// position of prompt_a), and its top-1 as often the reference's.
TEST(Interop, Q8_0OfDeepSeekFamiliesIsAsFaithfulAsLlamaCpp) {
    if (!have_llama()) GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    test::TempDir tmp;
    for (const char* family : {"glm4moe", "deepseek3"}) {
        SCOPED_TRACE(family);
        const std::string model = test::fixture(std::string("gguf/") + family + "-tiny-q8_0.gguf");
        const test::Reference ref(test::fixture(std::string("models/") + family + "-tiny/reference.safetensors"));
        const auto prompt = ref.ints("prompt_a");
        const auto want = ref.floats("logits_a");
        const std::vector<float> ours = sluice_logits(model, prompt, tmp, " --cache-type f32");
        const size_t V = ours.size() / prompt.size();
        double ours_err2 = 0, theirs_err2 = 0;
        int ours_top1 = 0, theirs_top1 = 0;
        for (size_t t = 0; t < prompt.size(); t += 3) {
            const std::vector<float> theirs = llama_last_logits(model, {prompt.begin(), prompt.begin() + long(t) + 1}, tmp);
            ASSERT_EQ(theirs.size(), V);
            const float* o = ours.data() + t * V;
            const float* w = want.data() + t * V;
            const long best = std::max_element(w, w + V) - w;
            ours_top1 += std::max_element(o, o + V) - o == best;
            theirs_top1 += std::max_element(theirs.begin(), theirs.end()) - theirs.begin() == best;
            for (size_t v = 0; v < V; ++v) {
                ours_err2 += double(o[v] - w[v]) * (o[v] - w[v]);
                theirs_err2 += double(theirs[v] - w[v]) * (theirs[v] - w[v]);
            }
        }
        const double values = double((prompt.size() + 2) / 3 * V);
        std::printf("%s q8_0: rms error vs reference %.4f (llama.cpp %.4f), top-1 at %d of 8 positions (llama.cpp %d)\n",
                    family, std::sqrt(ours_err2 / values), std::sqrt(theirs_err2 / values), ours_top1, theirs_top1);
        // On glm4moe both engines compute the same logits (LlamaCppLogitsEqualOursOnQuantisedGguf)
        // and their errors agree to rounding: 1% is that rounding, not a quantisation effect.
        EXPECT_LE(ours_err2, theirs_err2 * 1.01);
        EXPECT_GE(ours_top1, theirs_top1);
    }
}

// Greedy continuations equal llama.cpp's on llama.cpp's q8_0 files of both tiny models, on our
// q8_0, q4_k and q4_k_m conversions of qwen3moe-tiny, and, with real K-quant, IQ4_XS and IQ2_XXS
// blocks and the q4_k_m and iq2_mix mixes, on synthetic models of the small geometry, and on
// IQ3_XXS and IQ1_M files llama.cpp quantised (both read the same bytes; llama.cpp in its precise
// mode, see above).
TEST(Interop, LlamaCppGivesOurGreedyTokensOnQuantisedGguf) {
    if (!have_llama()) GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    test::TempDir tmp;
    const std::string prompt = join_ids(qwen3_ref().ints("prompt_a"), ",");
    std::vector<std::pair<std::string, std::string>> runs = {  // model, prompt
        {test::fixture("gguf/qwen3moe-tiny-q8_0.gguf"), prompt},
        {test::fixture("gguf/qwen35moe-tiny-q8_0.gguf"),
         join_ids(test::Reference(test::fixture("models/qwen35moe-tiny/reference.safetensors")).ints("prompt_a"), ",")}};
    for (const char* family : {"glm4moe", "deepseek3"})
        runs.push_back({test::fixture(std::string("gguf/") + family + "-tiny-q8_0.gguf"),
                        join_ids(test::Reference(test::fixture(std::string("models/") + family +
                                                               "-tiny/reference.safetensors")).ints("prompt_a"), ",")});
    for (const char* type : {"q8_0", "q4_k", "q4_k_m"}) {
        const std::string out = tmp.file(std::string("tiny-") + type + ".gguf");
        ASSERT_EQ(sluice("convert " + qwen3_dir() + " " + out + " --type " + type).exit_code, 0);
        runs.push_back({out, prompt});
    }
    const std::string config = small_config(tmp, 2);
    for (const char* type : {"q8_0", "q4_k", "q6_k", "q5_k", "q3_k", "q2_k", "iq4_xs", "iq2_xxs", "q4_k_m", "iq2_mix"}) {
        const std::string out = tmp.file(std::string("synth-") + type + ".gguf");
        ASSERT_EQ(sluice("synth --geometry " + config + " --type " + type + " -o " + out).exit_code, 0);
        runs.push_back({out, "5,6,7,8,9,10,11,12"});
    }
    for (const char* type : {"iq3_xxs", "iq1_m"})  // quantised by llama.cpp (tools/iq_vectors/make.sh)
        runs.push_back({test::source_dir() + "/tests/data/iq/tiny-" + type + ".gguf", "5,6,7,8,9,10,11,12"});
    for (const auto& [model, tokens] : runs) {
        auto ours = sluice("run -m " + model + " --tokens " + tokens + " -n 12 --ids --cache-type f32");   // as --precise
        ASSERT_EQ(ours.exit_code, 0) << ours.err;
        auto peer = test::run_command("node " + interop_dir() + "/llama_greedy.mjs " + model + " --tokens " + tokens +
                                      " -n 12 --precise");
        ASSERT_EQ(peer.exit_code, 0) << peer.err;
        EXPECT_EQ(peer.out, ours.out) << model;
    }
}

}  // namespace
}  // namespace sluice

// --- text in, text out: the tokenizer from every kind of model file, `run -p`, `chat` ---

namespace sluice {
namespace {

// Texts that exercise the pre-tokeniser, NFC, added tokens and multi-byte characters.
const std::vector<std::string> kVariedTexts = {
    "The hacker's program ran; it didn't crash.",
    "  indented\n\tcode(x) { return x*2; }\r\n",
    "numbers 1234567890 and 3.14159",
    "caf\u00e9 vs cafe\u0301, \u4f60\u597d\uff0c\u4e16\u754c\uff01 \u041f\u0440\u0438\u0432\u0435\u0442 \U0001F600\U0001F44D\U0001F3FD",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|><|im_end|>x<|im_start",
    "   \n\n\n   ",
};

std::unique_ptr<Tokenizer> tiny_tokenizer() { return load_tokenizer(qwen3_dir()); }

// `sluice tokenize` output for a text, written to a file so any bytes pass through the shell.
std::string tokenize_cli(const std::string& model, const std::string& text) {
    test::TempDir tmp;
    test::write_file(tmp.file("text"), text);
    auto r = sluice("tokenize -m " + model + " --text-file " + tmp.file("text"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
}

std::string json_ids(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump() + "\n"; }

// The ids `run --ids` printed.
std::vector<int32_t> parse_ids(const std::string& out) {
    std::vector<int32_t> ids;
    std::istringstream in(out);
    for (int32_t id; in >> id;) ids.push_back(id);
    return ids;
}

// Generated ids up to the first one that ends generation (without it).
std::vector<int32_t> ids_before_stop(const std::string& out, const Tokenizer& tok) {
    std::vector<int32_t> ids = parse_ids(out);
    ids.erase(std::find_if(ids.begin(), ids.end(), [&](int32_t id) { return tok.is_stop(id); }), ids.end());
    return ids;
}

TEST(Tokenize, SameIdsFromTokenizerJsonOurGgufAndLlamaCppsGguf) {
    test::TempDir tmp;
    const std::string ours = tmp.file("tiny.gguf");
    ASSERT_EQ(sluice("convert " + qwen3_dir() + " " + ours + " --type f32").exit_code, 0);
    GgufFile g(ours);
    EXPECT_EQ(g.get("tokenizer.ggml.pre").as_string(""), "qwen2");
    auto tok = tiny_tokenizer();
    for (const std::string& text : kVariedTexts) {
        const std::string want = json_ids(tok->encode(text));
        EXPECT_EQ(tokenize_cli(qwen3_dir(), text), want) << text;
        EXPECT_EQ(tokenize_cli(qwen3_dir() + "/tokenizer.json", text), want) << text;
        EXPECT_EQ(tokenize_cli(ours, text), want) << text;
        EXPECT_EQ(tokenize_cli(test::fixture("gguf/qwen3moe-tiny-f32.gguf"), text), want) << text;
    }
    EXPECT_EQ(sluice("tokenize -m " + ours + " \"Hello world\"").out, sluice("tokenize -m " + qwen3_dir() + " --text \"Hello world\"").out);
}

// The real Qwen3 tokenizer written into a GGUF by the converter's metadata code (padded to the
// model's 151,936 rows as the converter does) gives Hugging Face's ids.
TEST(Tokenize, RealQwen3TokenizerFromGgufMatchesTheReference) {
    test::TempDir tmp;
    ModelDesc desc;
    desc.path = test::fixture("tokenizer/qwen3");
    desc.config.vocab_size = 151936;
    GgufWriter w;
    write_tokenizer_metadata(w, desc);
    w.write(tmp.file("qwen3-tokenizer.gguf"));
    auto tok = load_tokenizer(tmp.file("qwen3-tokenizer.gguf"));
    EXPECT_EQ(tok->vocab_size(), 151936);
    EXPECT_EQ(tok->eos(), 151645);
    auto ref = nlohmann::json::parse(test::read_file(test::fixture("tokenizer/qwen3/reference.json")));
    for (const auto& e : ref["encode"]) {
        auto ids = e["ids"].get<std::vector<int32_t>>();
        EXPECT_EQ(tok->encode(e["text"].get<std::string>()), ids) << e["text"];
        EXPECT_EQ(tok->decode(ids), e["decoded"].get<std::string>());
    }
    for (const auto& c : ref["chat"]) EXPECT_EQ(tok->encode(c["rendered"].get<std::string>()), c["ids"].get<std::vector<int32_t>>());
}

TEST(TokenizeErrors, InvalidUtf8InThePrompt) {
    test::TempDir tmp;
    test::write_file(tmp.file("bad.txt"), "ok \xC3\x28 then");
    expect_error("tokenize -m " + qwen3_dir() + " --text-file " + tmp.file("bad.txt"), "bad.txt: text is not valid UTF-8: byte 0xC3 at offset 3");
    expect_error("run -m " + qwen3_dir() + " -p \"$(printf 'x\\377')\"", "-p: text is not valid UTF-8");
}

TEST(TokenizeErrors, TokenizerJsonWithAMissingField) {
    test::TempDir tmp;
    std::string dir = copy_model(tmp);
    auto t = nlohmann::json::parse(test::read_file(dir + "/tokenizer.json"));
    t["model"].erase("vocab");
    test::write_file(dir + "/tokenizer.json", t.dump());
    expect_error("tokenize -m " + dir + " hi", "tokenizer.json: missing or malformed field \"model.vocab\"");
    expect_error("run -m " + dir + " -p hi", "model.vocab");
}

TEST(TokenizeErrors, UnknownPreTokeniserInAGguf) {
    test::TempDir tmp;
    GgufFile src(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    GgufWriter w;
    for (const auto& [key, value] : src.metadata())
        if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
    w.set_string("tokenizer.ggml.pre", "falcon3");
    w.write(tmp.file("t.gguf"));
    expect_error("tokenize -m " + tmp.file("t.gguf") + " hi",
                 "tokenizer.ggml.pre: unknown pre-tokeniser \"falcon3\" (sluice knows qwen2, qwen35, glm4, deepseek-v3, "
                 "gpt-4o, kimi-k2)");
}

// `run -p TEXT` generates exactly what `run --tokens` does on the text's ids, printed as text
// (prompt_a's ids are not the encoding of any text — they decode to broken UTF-8 — so the
// reference tokens are reached through --tokens, which the tests above check).
TEST(Run, TextPromptContinuesLikeItsTokenIds) {
    auto tok = tiny_tokenizer();
    const std::string text = "The hacker's program ran; it didn't crash. \u4f60\u597d";
    const std::string tokens = join_ids(tok->encode(text), ",");
    for (const std::string& model : {qwen3_dir(), test::fixture("gguf/qwen3moe-tiny-f32.gguf")}) {
        auto by_ids = sluice("run -m " + model + " --tokens " + tokens + " -n 24 --ids");
        ASSERT_EQ(by_ids.exit_code, 0) << by_ids.err;
        // -p stops at the first end-of-turn / eos token: --ids shows it, the text does not.
        const std::vector<int32_t> answer = ids_before_stop(by_ids.out, *tok);
        std::vector<int32_t> with_stop = parse_ids(by_ids.out);
        with_stop.resize(std::min(with_stop.size(), answer.size() + 1));
        const std::string want_ids = join_ids(with_stop, " ");
        auto ids = sluice("run -m " + model + " -p \"" + text + "\" -n 24 --ids");
        ASSERT_EQ(ids.exit_code, 0) << ids.err;
        EXPECT_EQ(ids.out, want_ids + "\n");
        auto printed = sluice("run -m " + model + " -p \"" + text + "\" -n 24");
        ASSERT_EQ(printed.exit_code, 0) << printed.err;
        EXPECT_EQ(printed.out, tok->decode(answer) + "\n");
    }
}

// The answer to a conversation, computed through `run --tokens` on the rendered template.
std::string expected_answer(const std::vector<ChatMessage>& messages, int n) {
    auto tok = tiny_tokenizer();
    const std::string prompt = ChatTemplate(tok->chat_template(), "tiny").render(messages, {});
    auto r = sluice("run -m " + qwen3_dir() + " --tokens " + join_ids(tok->encode(prompt), ",") + " -n " + std::to_string(n) + " --ids");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return tok->decode(ids_before_stop(r.out, *tok));
}

ChatMessage turn(const std::string& role, const std::string& content) {
    ChatMessage m;
    m.role = role;
    m.content = content;
    return m;
}

TEST(Run, ChatFlagWrapsThePromptInTheTemplate) {
    auto r = sluice("run -m " + qwen3_dir() + " -p \"Hello there\" --chat -n 10");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, expected_answer({turn("user", "Hello there")}, 10) + "\n");
}

// A scripted conversation on stdin: the second answer continues the first turn's context,
// /reset forgets it (the third answer equals the first), /quit ends before the last line.
TEST(Chat, ScriptedConversationWithResetAndQuit) {
    test::TempDir tmp;
    test::write_file(tmp.file("script"), "Hello there\nTell me more.\n/reset\nHello there\n/quit\nnever read\n");
    auto r = test::run_command(test::sluice_binary() + " chat -m " + qwen3_dir() + " -n 10 < " + tmp.file("script"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string first = expected_answer({turn("user", "Hello there")}, 10);
    const std::string second =
        expected_answer({turn("user", "Hello there"), turn("assistant", first), turn("user", "Tell me more.")}, 10);
    EXPECT_EQ(r.out, first + "\n" + second + "\n" + first + "\n");
    EXPECT_NE(r.err.find("[new conversation]"), std::string::npos) << r.err;
}

TEST(Chat, SystemPromptAndNoThinkReachTheTemplate) {
    test::TempDir tmp;
    test::write_file(tmp.file("script"), "Hi\n");
    auto r = test::run_command(test::sluice_binary() + " chat -m " + qwen3_dir() +
                               " -n 6 --system \"Be terse.\" --no-think < " + tmp.file("script"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto tok = tiny_tokenizer();
    ChatOptions o;
    o.enable_thinking = false;
    const std::string prompt =
        ChatTemplate(tok->chat_template(), "tiny").render({turn("system", "Be terse."), turn("user", "Hi")}, o);
    auto want = sluice("run -m " + qwen3_dir() + " --tokens " + join_ids(tok->encode(prompt), ",") + " -n 6 --ids");
    EXPECT_EQ(r.out, tok->decode(ids_before_stop(want.out, *tok)) + "\n");
}


// A running `sluice chat`: the test types into its stdin; its output goes to files.
class ChatProcess {
public:
    ChatProcess(const std::string& args, const test::TempDir& tmp) : out_(tmp.file("chat.out")), err_(tmp.file("chat.err")) {
        int fds[2];
        if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
        pid_ = fork();
        if (pid_ == 0) {
            dup2(fds[0], 0);
            close(fds[0]);
            close(fds[1]);
            const std::string cmd = "exec " + test::sluice_binary() + " chat " + args + " >" + out_ + " 2>" + err_;
            execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        close(fds[0]);
        in_ = fds[1];
    }
    ~ChatProcess() {
        if (in_ >= 0) close(in_);
        if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    void type(const std::string& line) { ASSERT_EQ(write(in_, line.data(), line.size()), ssize_t(line.size())); }
    void interrupt() { kill(pid_, SIGINT); }
    std::string out() const { return test::read_file(out_); }
    std::string err() const { return test::read_file(err_); }
    // Polls until `ready` holds, for up to a minute.
    bool wait(const std::function<bool()>& ready) const {
        for (int i = 0; i < 6000; ++i) {
            if (ready()) return true;
            usleep(10000);
        }
        return false;
    }
    // Closes stdin and returns the exit code.
    int finish() {
        close(in_);
        in_ = -1;
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

private:
    std::string out_, err_;
    pid_t pid_ = -1;
    int in_ = -1;
};

// A model slow enough to interrupt (tens of ms per token): random bf16 weights of a larger
// geometry, carrying the tiny fixture's tokenizer and chat template.
std::string slow_chat_model(const test::TempDir& tmp) {
    const std::string config = tmp.file("slow.json");
    test::write_file(config, R"({"model_type": "qwen3_moe", "vocab_size": 512, "hidden_size": 512, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "num_experts": 16, "num_experts_per_tok": 8,
        "moe_intermediate_size": 512, "norm_topk_prob": true})");
    const std::string synth = tmp.file("slow-synth.gguf");
    EXPECT_EQ(sluice("synth --geometry " + config + " --type bf16 -o " + synth).exit_code, 0);
    GgufFile model(synth), tokenizer(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    GgufWriter w(model.alignment());
    for (const auto& [key, value] : model.metadata())
        if (key.rfind("tokenizer.", 0) != 0) w.set(key, value);
    for (const auto& [key, value] : tokenizer.metadata())
        if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
    for (const GgufTensorInfo& t : model.tensors()) {
        const uint8_t* base = model.mapped()->data() + t.offset;
        const size_t row = row_bytes(t.type, t.ne[0]);
        w.add_tensor(t.name, t.ne, t.type, [base, row](uint8_t* dst, int64_t first, int64_t n) {
            std::memcpy(dst, base + size_t(first) * row, size_t(n) * row);
        });
    }
    const std::string out = tmp.file("slow-chat.gguf");
    w.write(out);
    return out;
}

size_t count(const std::string& s, const std::string& needle) {
    size_t n = 0;
    for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
    return n;
}

// Ctrl-C stops the answer being written and the conversation goes on; Ctrl-C at the prompt
// is harmless; /quit then ends it normally.
TEST(Chat, CtrlCStopsTheAnswerNotTheProgram) {
    test::TempDir tmp;
    const std::string model = slow_chat_model(tmp);
    ChatProcess chat("-m " + model + " -n 100000", tmp);
    chat.type("Tell me a long story.\n");
    ASSERT_TRUE(chat.wait([&] { return !chat.out().empty(); })) << chat.err();
    chat.interrupt();
    ASSERT_TRUE(chat.wait([&] { return count(chat.err(), "[stopped]") == 1; })) << chat.err();
    const size_t first = chat.out().size();
    chat.interrupt();  // at the prompt: nothing to stop
    chat.type("And another.\n");
    ASSERT_TRUE(chat.wait([&] { return chat.out().size() > first; })) << chat.err();
    chat.interrupt();
    ASSERT_TRUE(chat.wait([&] { return count(chat.err(), "[stopped]") == 2; })) << chat.err();
    chat.type("/quit\n");
    EXPECT_EQ(chat.finish(), 0) << chat.err();
}

}  // namespace
}  // namespace sluice
