// BOS at the start of a prompt: added once when the tokenizer's config says add_bos_token (as
// DeepSeek-V3's and Kimi's do), never for Qwen's, and read from tokenizer_config.json with one
// clear error for a malformed flag.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_fixtures.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int32_t>;

// The tiny fixture tokenizer's folder, with tokenizer_config.json changed by `edit`.
std::string tiny_with_config(const test::TempDir& tmp, const std::function<void(json&)>& edit) {
    const fs::path src(test::fixture("models/qwen3moe-tiny"));
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(src / f, tmp.path() / f);
    json c = json::parse(test::read_file(tmp.file("tokenizer_config.json")));
    edit(c);
    test::write_file(tmp.file("tokenizer_config.json"), c.dump());
    return tmp.path().string();
}

TEST(PromptBos, QwenAddsNone) {
    const Tokenizer& t = test::qwen3_tokenizer();
    EXPECT_FALSE(t.adds_bos());
    EXPECT_EQ(t.encode_prompt("Hello world"), t.encode("Hello world"));
}

TEST(PromptBos, AddBosTokenPutsBosFirstOnce) {
    test::TempDir tmp;
    const Tokenizer t(read_hf_tokenizer(tiny_with_config(tmp, [](json& c) {
        c["add_bos_token"] = true;
        c["bos_token"] = {{"content", "<|endoftext|>"}, {"special", true}};
    })));
    ASSERT_TRUE(t.adds_bos());
    ASSERT_EQ(t.bos(), 509);
    const Ids text = t.encode("Hello world");
    Ids want{509};
    want.insert(want.end(), text.begin(), text.end());
    EXPECT_EQ(t.encode_prompt("Hello world"), want);
    // A chat template's render that starts with BOS keeps one.
    EXPECT_EQ(t.encode_prompt("<|endoftext|>Hello world"), want);
    EXPECT_EQ(t.encode_prompt(""), Ids{509});
    // BOS later in the text is text's business.
    EXPECT_EQ(t.encode_prompt("Hi<|endoftext|>")[0], 509);
    EXPECT_EQ(t.encode("Hello world"), text);  // encode itself adds nothing
}

TEST(PromptBos, AddBosTokenFalseAddsNone) {
    test::TempDir tmp;
    const Tokenizer t(read_hf_tokenizer(tiny_with_config(tmp, [](json& c) {
        c["add_bos_token"] = false;
        c["bos_token"] = "<|endoftext|>";
    })));
    EXPECT_EQ(t.bos(), 509);
    EXPECT_FALSE(t.adds_bos());
    EXPECT_EQ(t.encode_prompt("Hello"), t.encode("Hello"));
}

TEST(PromptBosErrors, MalformedFlagOrMissingBosIsNamed) {
    test::TempDir a, b;
    const std::string bad_flag = tiny_with_config(a, [](json& c) { c["add_bos_token"] = "yes"; });
    EXPECT_EQ(test::error_of([&] { read_hf_tokenizer(bad_flag); }),
              (fs::path(bad_flag) / "tokenizer_config.json").string() + ": add_bos_token must be true or false, not \"yes\"");
    const std::string no_bos = tiny_with_config(b, [](json& c) {
        c["add_bos_token"] = true;
        c["bos_token"] = nullptr;
    });
    EXPECT_EQ(test::error_of([&] { read_hf_tokenizer(no_bos); }),
              (fs::path(no_bos) / "tokenizer_config.json").string() +
                  ": add_bos_token is true but bos_token names no token of the vocabulary");
    // A GGUF may say add_bos_token without bos_token_id, or name an id past the vocabulary.
    TokenizerSpec spec = read_hf_tokenizer(test::fixture("models/qwen3moe-tiny"));
    spec.add_bos = true;
    EXPECT_EQ(test::error_of([&] { Tokenizer t(spec); }),
              spec.source + ": add_bos_token is true but the tokenizer names no BOS token");
    spec.bos = 512;
    EXPECT_EQ(test::error_of([&] { Tokenizer t(spec); }), spec.source + ": bos id 512 is outside the vocabulary of 512");
}

}  // namespace
}  // namespace sluice
