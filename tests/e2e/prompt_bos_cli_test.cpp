// BOS through the binary: `run -p` on a model whose tokenizer_config.json says add_bos_token
// (as DeepSeek-V3's and Kimi's do) answers the prompt with BOS first, from the Hugging Face
// folder and from the GGUF `convert` writes of it (which carries the flag); Qwen's adds none.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "runtime/model_tokenizer.h"
#include "cli_support.h"
#include "test_support.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::sluice;

constexpr int32_t kBos = 509;   // the tiny tokenizer's <|endoftext|>
const char* const kPrompt = "Once upon a time";

std::string join(const std::vector<int32_t>& ids) {
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) s += ',';
        s += std::to_string(ids[i]);
    }
    return s;
}

// Greedy ids of `run`, up to the first stop token (<|endoftext|> and <|im_end|>) included.
std::string greedy(const std::string& model, const std::string& prompt_args) {
    return test::greedy_ids(model, prompt_args, {509, 511});
}

// The tiny Qwen3-MoE folder with add_bos_token true and BOS <|endoftext|>.
std::string bos_model(const test::TempDir& tmp) {
    const fs::path dir = tmp.path() / "model";
    fs::copy(test::fixture("models/qwen3moe-tiny"), dir, fs::copy_options::recursive);
    json c = json::parse(test::read_file((dir / "tokenizer_config.json").string()));
    c["add_bos_token"] = true;
    c["bos_token"] = "<|endoftext|>";
    test::write_file((dir / "tokenizer_config.json").string(), c.dump());
    return dir.string();
}

TEST(PromptBos, RunPutsBosFirstWhenTheTokenizerSaysSo) {
    test::TempDir tmp;
    const std::string qwen = test::fixture("models/qwen3moe-tiny");
    const std::vector<int32_t> ids = load_tokenizer(qwen)->encode(kPrompt);
    std::vector<int32_t> with_bos{kBos};
    with_bos.insert(with_bos.end(), ids.begin(), ids.end());
    const std::string text_arg = std::string("-p \"") + kPrompt + "\"";

    const std::string plain = greedy(qwen, "--tokens " + join(ids));
    const std::string after_bos = greedy(qwen, "--tokens " + join(with_bos));
    ASSERT_NE(plain, after_bos);   // else this test could not tell
    EXPECT_EQ(greedy(qwen, text_arg), plain);   // Qwen: no BOS

    const std::string folder = bos_model(tmp);
    EXPECT_EQ(greedy(folder, text_arg), after_bos);

    const std::string gguf = tmp.file("bos.gguf");
    auto c = sluice("convert " + folder + " " + gguf + " --type f32");
    ASSERT_EQ(c.exit_code, 0) << c.err;
    GgufFile g(gguf);
    EXPECT_TRUE(g.get("tokenizer.ggml.add_bos_token").as_bool(""));
    EXPECT_EQ(g.get("tokenizer.ggml.bos_token_id").as_int(""), kBos);
    EXPECT_EQ(greedy(gguf, text_arg), after_bos);
}

}  // namespace
}  // namespace sluice
