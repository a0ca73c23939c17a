// The `sluice` program end to end: conversion round trips, the eval logits file, and one clear
// error line (never a crash) for each kind of malformed input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "format/gguf.h"
#include "reference.h"
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

test::CommandResult sluice(const std::string& args) { return test::run_command(test::sluice_binary() + " " + args); }

// Greedy ids from `sluice run` and max |logits - reference| from `sluice eval`, for prompt `tag`.
void expect_matches_reference(const std::string& model, const std::string& tag) {
    auto ref = qwen3_ref();
    auto prompt = ref.ints("prompt_" + tag);
    auto gen = ref.ints("gen_" + tag);
    auto r = sluice("run -m " + model + " --tokens " + join_ids(prompt, ",") + " -n " + std::to_string(gen.size()) +
                    " --temp 0 --ids");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, join_ids(gen, " ") + "\n");

    test::TempDir tmp;
    auto e = sluice("eval -m " + model + " --tokens " + join_ids(prompt, ",") + " --logits-out " + tmp.file("l.bin"));
    ASSERT_EQ(e.exit_code, 0) << e.err;
    std::string bytes = test::read_file(tmp.file("l.bin"));
    auto want = ref.floats("logits_" + tag);
    ASSERT_EQ(bytes.size(), want.size() * 4);
    std::vector<float> got(want.size());
    std::memcpy(got.data(), bytes.data(), bytes.size());
    float worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    EXPECT_LE(worst, 1e-3f) << model;
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
    for (const char* fault : {"eio@30", "short@30"}) {
        auto r = test::run_command(std::string("SLUICE_FAULT=") + fault + " " + test::sluice_binary() + " run -m " +
                                   model + " --tokens " + kPromptA + " -n 16 --ids --mem 27.5M -c 64");
        EXPECT_EQ(r.exit_code, 1) << fault;
        EXPECT_EQ(r.out, "") << "no tokens may be printed after a failed read";
        EXPECT_NE(r.err.find(fault[0] == 'e' ? "Input/output error" : "short read"), std::string::npos) << r.err;
    }
}

TEST(Budget, TooSmallBudgetIsRefusedWithTheSizeNeeded) {
    expect_error("run -m " + test::fixture("gguf/qwen3moe-tiny-f32.gguf") + " --tokens 1 --mem 4M", "needs at least");
}

// A model several times larger than a memory cap that includes the page cache runs to the same
// tokens as without a cap, and the cgroup's peak stays under the budget.
TEST(Budget, ModelLargerThanTheCapRunsUnderMemcap) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine are not part of the budget";
#endif
    std::string memcap = test::shared_dir() + "/tools/memcap";
    if (test::run_command(memcap + " 64M true").exit_code != 0) GTEST_SKIP() << "memcap needs root and cgroups";
    test::TempDir tmp;
    std::string model = tmp.file("big.gguf");
    auto s = sluice("synth --geometry " + test::source_dir() + "/tests/data/synth-moe-config.json --type bf16 -o " + model);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    const uint64_t size = std::filesystem::file_size(model);
    const uint64_t cap = 400ull << 20;
    ASSERT_GT(size, 3 * cap);
    const std::string gen = " run -m " + model + " --tokens 1,2,3,4,5,6,7,8 -n 6 --ids -c 64";
    auto free_run = test::run_command(test::sluice_binary() + gen);
    ASSERT_EQ(free_run.exit_code, 0) << free_run.err;
    auto capped = test::run_command(memcap + " 400M " + test::sluice_binary() + gen + " --mem 360M --stats");
    ASSERT_EQ(capped.exit_code, 0) << capped.err;
    EXPECT_EQ(capped.out, free_run.out);
    size_t at = capped.err.find("memcap: peak MiB=");
    ASSERT_NE(at, std::string::npos) << capped.err;
    EXPECT_LT(std::stoull(capped.err.substr(at + 17)), 360u) << capped.err;
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
