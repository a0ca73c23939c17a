// gpt-oss through the command line: greedy tokens of the fixture streamed under --mem, a
// synthetic gpt-oss with MXFP4 experts against llama.cpp, and the one-line refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "format/gguf.h"
#include "reference.h"
#include "cli_support.h"
#include "test_support.h"

namespace sluice {
namespace {

using test::sluice;

std::string join_ids(const std::vector<int32_t>& ids, const char* sep) {
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? sep : "") + std::to_string(ids[i]);
    return s;
}

void expect_one_line_error(const std::string& args, const std::string& needle) {
    auto r = sluice(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
}

// The f32 and q8_0 GGUFs of gptoss-tiny under a budget that holds the dense part and a few
// experts give the uncapped greedy tokens (the f32 file: the reference's).
TEST(GptOssCli, StreamedUnderMemGivesTheUncappedTokens) {
    const test::Reference ref(test::fixture("models/gptoss-tiny/reference.safetensors"));
    const std::string prompt = join_ids(ref.ints("prompt_b"), ",");
    for (const char* file : {"gguf/gptoss-tiny-f32.gguf", "gguf/gptoss-tiny-q8_0.gguf"}) {
        SCOPED_TRACE(file);
        const std::string model = test::fixture(file), run = "run -m " + model + " --tokens " + prompt + " -n 8 --ids";
        auto free = sluice(run);
        ASSERT_EQ(free.exit_code, 0) << free.err;
        if (std::string(file).find("f32") != std::string::npos) {
            EXPECT_EQ(free.out, join_ids(ref.ints("gen_b"), " ") + "\n");
        }
        auto capped = sluice(run + " --mem 30M --stats");
        ASSERT_EQ(capped.exit_code, 0) << capped.err;
        EXPECT_EQ(capped.out.substr(0, capped.out.find('\n') + 1), free.out);
    }
}

TEST(GptOssCli, HfFolderUnderMemAndConvertAreRefusedInOneLine) {
    const std::string dir = test::fixture("models/gptoss-tiny");
    expect_one_line_error("run -m " + dir + " --tokens 1,2,3 -n 2 --mem 30M", "cannot be streamed under --mem");
    test::TempDir tmp;
    expect_one_line_error("convert " + dir + " " + tmp.file("x.gguf"), "gpt-oss is not supported yet");
}

// A synthetic gpt-oss (no YaRN, so both engines compute the same RoPE; 96-wide rows, three
// MXFP4 blocks) with Q8_0 attention and MXFP4 experts, on a prompt longer than its sliding
// window: llama.cpp in its precise mode gives our logits at the last position (measured: equal
// bit for bit; 2e-2 allowed, as for the other quantised files in cli_test.cpp) and continues
// with our greedy tokens.
TEST(GptOssCli, LlamaCppAgreesWithUsOnASyntheticMxfp4Model) {
    const std::string interop = test::source_dir() + "/tests/interop";
    test::TempDir tmp;
    const std::string config = tmp.file("config.json"), model = tmp.file("gptoss-synth.gguf");
    test::write_file(config, R"({"model_type": "gpt_oss", "vocab_size": 512, "hidden_size": 96, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "max_position_embeddings": 512,
        "rms_norm_eps": 1e-05, "rope_theta": 150000.0, "num_local_experts": 16, "num_experts_per_tok": 4,
        "intermediate_size": 96, "sliding_window": 8, "swiglu_limit": 7.0,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]})");
    auto s = sluice("synth --geometry " + config + " --type q8_0 --expert-type mxfp4 --seed 4 -o " + model);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    GgufFile g(model);
    EXPECT_EQ(g.find_tensor("blk.0.ffn_gate_exps.weight")->type, GgmlType::MXFP4);
    EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q8_0);
    const std::string tokens = "5,17,300,42,99,7,256,511,3,64,128,200,9,33";
    auto ours = sluice("run -m " + model + " --tokens " + tokens + " -n 12 --ids --cache-type f32");
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    auto eval = sluice("eval -m " + model + " --tokens " + tokens + " --logits-out " + tmp.file("ours.bin") + " --cache-type f32");
    ASSERT_EQ(eval.exit_code, 0) << eval.err;
    if (!std::filesystem::exists(interop + "/node_modules/node-llama-cpp"))
        GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    const std::string peer_run = "node " + interop + "/llama_greedy.mjs " + model + " --tokens " + tokens + " --precise";
    auto peer = test::run_command(peer_run + " -n 12");
    ASSERT_EQ(peer.exit_code, 0) << peer.err;
    EXPECT_EQ(peer.out, ours.out);
    auto peer_logits = test::run_command(peer_run + " -n 1 --logits-out " + tmp.file("theirs.bin"));
    ASSERT_EQ(peer_logits.exit_code, 0) << peer_logits.err;
    const std::string o = test::read_file(tmp.file("ours.bin")), t = test::read_file(tmp.file("theirs.bin"));
    ASSERT_EQ(t.size(), 512u * 4);
    ASSERT_EQ(o.size() % t.size(), 0u);
    std::vector<float> last(512), theirs(512);
    std::memcpy(last.data(), o.data() + o.size() - t.size(), t.size());
    std::memcpy(theirs.data(), t.data(), t.size());
    float worst = 0;
    for (size_t i = 0; i < last.size(); ++i) worst = std::max(worst, std::fabs(last[i] - theirs[i]));
    EXPECT_LE(worst, 2e-2f);
}

}  // namespace
}  // namespace sluice
