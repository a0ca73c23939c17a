// A model folder with Kimi-K2's tokenizer files (tiktoken.model and tokenizer_config.json's
// added_tokens_decoder, no tokenizer.json), made from a tiny fixture and its tokenizer: `run -p`
// reads it, and `convert` writes the tokenizer llama.cpp's converter writes ("kimi-k2", the
// merges implied by the ranks, BOS and EOS from config.json), which gives the same answers.
// The folder is the Qwen3-MoE fixture's: `convert` does not write DeepSeek's architecture yet.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "runtime/model_tokenizer.h"
#include "cli_support.h"
#include "test_support.h"
#include "tiktoken_folder.h"
#include "tokenizer/hf_tokenizer.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::sluice;

constexpr size_t kRanks = 509;   // the tiny tokenizer's BPE tokens: 256 bytes and 253 merges
constexpr int32_t kBos = 509, kEos = 510;

std::string kimi_layout_model(const test::TempDir& tmp) {
    const fs::path dir = tmp.path() / "kimi";
    fs::copy(test::fixture("models/qwen3moe-tiny"), dir, fs::copy_options::recursive);
    const TokenizerSpec tiny = read_hf_tokenizer(dir.string());
    fs::remove(dir / "tokenizer.json");
    const json config = {{"added_tokens_decoder",
                          {{"509", test::added_token("[BOS]")}, {"510", test::added_token("[EOS]")},
                           {"511", test::added_token("<|im_end|>")}}},
                         {"bos_token", "[BOS]"}, {"eos_token", "[EOS]"}, {"add_bos_token", true}};
    test::write_tiktoken_folder(dir.string(), tiny, kRanks, config);
    json c = json::parse(test::read_file((dir / "config.json").string()));
    c["bos_token_id"] = kBos;
    c["eos_token_id"] = kEos;
    test::write_file((dir / "config.json").string(), c.dump(2));
    return dir.string();
}

// Greedy ids of `run`, up to the first stop token ([EOS] and <|im_end|>) included.
std::string greedy(const std::string& model, const std::string& prompt_args) {
    return test::greedy_ids(model, prompt_args, {kEos, 511});
}

TEST(TiktokenFolder, RunsAndConvertsAsLlamaCppWould) {
    test::TempDir tmp;
    const std::string folder = kimi_layout_model(tmp);
    const std::vector<int32_t> ids = load_tokenizer(folder)->encode("Once upon a time");
    std::string with_bos = std::to_string(kBos);
    for (int32_t id : ids) {
        with_bos += ',';
        with_bos += std::to_string(id);
    }
    const std::string want = greedy(folder, "--tokens " + with_bos);
    EXPECT_EQ(greedy(folder, "-p \"Once upon a time\""), want);

    const std::string gguf = tmp.file("kimi.gguf");
    auto c = sluice("convert " + folder + " " + gguf + " --type f32");
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_EQ(greedy(gguf, "-p \"Once upon a time\""), want);

    const TokenizerSpec tiny = read_hf_tokenizer(test::fixture("models/qwen3moe-tiny"));
    GgufFile g(gguf);
    EXPECT_EQ(g.get("tokenizer.ggml.pre").as_string(""), "kimi-k2");
    std::vector<std::string> tokens, merges, want_merges;
    for (const GgufValue& v : g.get("tokenizer.ggml.tokens").as_array("").items) tokens.push_back(v.as_string(""));
    for (const GgufValue& v : g.get("tokenizer.ggml.merges").as_array("").items) merges.push_back(v.as_string(""));
    for (const auto& [a, b] : tiny.merges) want_merges.push_back(a + " " + b);
    ASSERT_EQ(tokens.size(), 512u);   // the model's vocabulary: reserved ids 512.. are left out
    EXPECT_TRUE(std::equal(tokens.begin(), tokens.begin() + kRanks, tiny.tokens.begin()));
    EXPECT_EQ(std::vector<std::string>(tokens.begin() + kRanks, tokens.end()),
              (std::vector<std::string>{"[BOS]", "[EOS]", "<|im_end|>"}));
    EXPECT_EQ(merges, want_merges);
    EXPECT_EQ(g.get("tokenizer.ggml.bos_token_id").as_int(""), kBos);
    EXPECT_EQ(g.get("tokenizer.ggml.eos_token_id").as_int(""), kEos);
    EXPECT_TRUE(g.get("tokenizer.ggml.add_bos_token").as_bool(""));
}

}  // namespace
}  // namespace sluice
