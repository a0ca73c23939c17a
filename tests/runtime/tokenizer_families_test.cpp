// The tokenizers of the model families as people download them: a GGUF with the real Qwen3
// vocabulary and merges under each llama.cpp pre-tokeniser name gives llama.cpp's ids, a
// tokenizer.json with DeepSeek-V3's Sequence of Splits gives the ids of the GGUF named
// "deepseek-v3", and Kimi-K2's tiktoken.model folder those of the GGUF named "kimi-k2" (and of
// llama.cpp on the GGUF `convert` writes of it).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "format/model_desc.h"
#include "format/tokenizer_meta.h"
#include "runtime/model_tokenizer.h"
#include "test_support.h"
#include "tiktoken_folder.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/pretokenizer.h"

namespace sluice {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

const char* const kFamilies[] = {"glm4", "deepseek-v3", "gpt-4o", "kimi-k2"};

// English with contractions (typewriter and typographic apostrophes) and numbers, code,
// Chinese, Japanese, Korean, accented Latin (NFC: llama.cpp does not normalise), Cyrillic,
// Greek, Arabic and Hindi, emoji, tabs, CRLF and runs of newlines and spaces, and a special
// token.
const std::vector<std::string>& texts() {
    static const std::vector<std::string> t{
        "Hello, world! I'm sure they'll say it's fine; WE'RE told 1, 12, 123, 1234, 12345, 123456 and 1234567 "
        "times.\n",
        "def add(a, b):\n\treturn a + b  # 3.14159\n\nif __name__ == \"__main__\":\n    print(add(2, 40))\n",
        "你好，世界！今天是2024年11月30日。我们在测试分词器。",
        "In Chinese, 你好 means hello and 世界 world.",
        "日本語のテキストです。カタカナとひらがな、そして漢字。私は東京に行きました。食べる前に見て。",
        "It’s the user’s choice — don’t worry…",
        "안녕하세요, 세계! 한국어 문장입니다.",
        "Ça va très bien: naïve café, Zürich, São Paulo, Łódź, ΑΘΗΝΑ and Ωmega.",
        "Привет, мир! Γειά σου κόσμε. مرحبا بالعالم",
        // llama.cpp's gpt-4o and Kimi-K2 letter classes leave out combining marks (\p{M}), which
        // split Devanagari's words; Qwen3's vocabulary has no token across them to show it.
        "नमस्ते दुनिया, हिन्दी में",
        "Emoji: 😀🎉👍🏽 ok✓ →→ ★\n",
        "  leading spaces\ttabs\t\tand\r\nCRLF lines\n\n\n   trailing   ",
        "<|im_start|>user\nHi there<|im_end|>\n",
    };
    return t;
}

// llama.cpp's Kimi-K2 handler ignores case: it joins "camelCase", which Kimi's tiktoken pattern
// (and sluice, pretokenizer_test.cpp) splits before "C"; 13 ids against llama.cpp's 8 here. So
// Kimi-K2 is compared without these.
const std::vector<std::string> kCased{"camelCase getElementById iPhone HTTPServer XMLHttpRequest"};

std::vector<std::string> texts_for(const std::string& pre) {
    std::vector<std::string> all = texts();
    if (pre != "kimi-k2") all.insert(all.end(), kCased.begin(), kCased.end());
    return all;
}

// The real Qwen3 tokenizer (151,669 tokens) in a GGUF named for pre-tokeniser `pre`, beside the
// tiny Qwen3-MoE fixture's other metadata (llama.cpp reads the hyperparameters even when it
// loads only the vocabulary). No tensors: only the tokenizer is read.
std::string write_gguf(const test::TempDir& tmp, const std::string& pre) {
    const TokenizerSpec spec = read_hf_tokenizer(test::fixture("tokenizer/qwen3"));
    GgufFile src(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    GgufWriter w;
    for (const auto& [key, value] : src.metadata())
        if (key.rfind("tokenizer.", 0) != 0) w.set(key, value);
    std::vector<int32_t> types;
    for (TokenType t : spec.types) types.push_back(int32_t(t));
    std::vector<std::string> merges;
    for (const auto& [a, b] : spec.merges) merges.push_back(a + " " + b);
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", pre);
    w.set_strings("tokenizer.ggml.tokens", spec.tokens);
    w.set_i32s("tokenizer.ggml.token_type", types);
    w.set_strings("tokenizer.ggml.merges", merges);
    w.set_bool("tokenizer.ggml.add_bos_token", false);
    const std::string path = tmp.file(pre + ".gguf");
    w.write(path);
    return path;
}

std::vector<Ids> sluice_ids(const std::string& model, const std::vector<std::string>& texts) {
    auto tok = load_tokenizer(model);
    std::vector<Ids> out;
    for (const std::string& t : texts) out.push_back(tok->encode(t));
    return out;
}

TEST(Interop, LlamaCppTokenizesEveryFamilyAsSluiceDoes) {
    const std::string interop = test::source_dir() + "/tests/interop";
    if (!std::filesystem::exists(interop + "/node_modules/node-llama-cpp"))
        GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    test::TempDir tmp;
    std::map<std::string, std::vector<Ids>> by_family;
    for (const std::string pre : kFamilies) {
        SCOPED_TRACE(pre);
        const std::vector<std::string> all = texts_for(pre);
        const std::string model = write_gguf(tmp, pre);
        test::write_file(tmp.file("texts.json"), json(all).dump());
        auto r = test::run_command("node " + interop + "/llama_tokenize.mjs " + model + " " + tmp.file("texts.json"));
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const auto llama = json::parse(r.out).get<std::vector<Ids>>();
        const auto ours = sluice_ids(model, all);
        ASSERT_EQ(llama.size(), all.size());
        for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(ours[i], llama[i]) << all[i];
        by_family[pre] = ours;
    }
    // Each pair of families gives different ids on the texts both were given, so each name was
    // put to the test. Qwen3's vocabulary hides most of their differences (no token longer than a
    // digit, none across a case change): typographic apostrophes (DeepSeek-V3), kanji before
    // kana (Kimi-K2) and getElementById (gpt-4o) show them.
    for (const std::string a : kFamilies)
        for (const std::string b : kFamilies)
            if (a < b) {
                const size_t n = std::min(by_family[a].size(), by_family[b].size());
                EXPECT_NE(std::vector<Ids>(by_family[a].begin(), by_family[a].begin() + n),
                          std::vector<Ids>(by_family[b].begin(), by_family[b].begin() + n))
                    << a << " and " << b;
            }
}

// DeepSeek-V3's tokenizer.json: Qwen3's vocabulary with DeepSeek's three Splits before ByteLevel
// and its empty normaliser, against the GGUF named "deepseek-v3" (which does not normalise
// either: the decomposed é stays two characters in both).
TEST(TokenizerFamilies, DeepSeekTokenizerJsonGivesTheIdsOfItsGguf) {
    test::TempDir tmp;
    json t = json::parse(test::read_file(test::fixture("tokenizer/qwen3/tokenizer.json")));
    json steps = json::array();
    for (const std::string& regex : pretokenizer_preset("deepseek-v3")->patterns)
        steps.push_back({{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}});
    steps.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});
    t["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", steps}};
    t["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
    std::filesystem::create_directory(tmp.file("hf"));
    test::write_file(tmp.file("hf/tokenizer.json"), t.dump());

    std::vector<std::string> all = texts_for("deepseek-v3");
    all.push_back("cafe\u0301 1234567");
    const auto from_json = sluice_ids(tmp.file("hf"), all);
    const auto from_gguf = sluice_ids(write_gguf(tmp, "deepseek-v3"), all);
    const auto qwen = sluice_ids(test::fixture("tokenizer/qwen3"), all);
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(from_json[i], from_gguf[i]) << all[i];
    EXPECT_NE(from_json, qwen);  // the Splits, not Qwen's regex, cut the text
}

// Kimi-K2's folder layout (tiktoken.model, no tokenizer.json) made from the Qwen3 vocabulary,
// and the tokenizer metadata `convert` writes of it for a model of vocabulary `vocab` (the
// tiny Qwen3-MoE fixture's other metadata beside it, so llama.cpp loads the file).
std::string write_converted_gguf(const test::TempDir& tmp, const std::string& folder, int64_t vocab) {
    ModelDesc desc;
    desc.path = folder;
    desc.config.vocab_size = vocab;
    GgufFile src(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    GgufWriter w;
    for (const auto& [key, value] : src.metadata())
        if (key.rfind("tokenizer.", 0) != 0) w.set(key, value);
    write_tokenizer_metadata(w, desc);
    const std::string path = tmp.file("converted-kimi.gguf");
    w.write(path);
    return path;
}

std::vector<std::string> strings_of(const GgufFile& g, const std::string& key) {
    std::vector<std::string> out;
    for (const GgufValue& v : g.get(key).as_array(key).items) out.push_back(v.as_string(key));
    return out;
}

TEST(TokenizerFamilies, KimiTiktokenFolderGivesTheIdsOfItsGguf) {
    test::TempDir tmp, folder_dir;
    const std::string folder = test::write_qwen3_tiktoken_folder(folder_dir);
    std::vector<std::string> all = texts();
    all.insert(all.end(), kCased.begin(), kCased.end());
    all.push_back("[BOS]<|im_start|>user\nHi<|reserved_token_151700|>[EOS]");
    const auto from_folder = sluice_ids(folder, all);
    const auto from_qwen_gguf = sluice_ids(write_gguf(tmp, "kimi-k2"), all);
    const std::string converted = write_converted_gguf(tmp, folder, int64_t(test::kQwenRanks) + 256);
    const auto from_converted = sluice_ids(converted, all);
    for (size_t i = 0; i + 1 < all.size(); ++i) EXPECT_EQ(from_folder[i], from_qwen_gguf[i]) << all[i];
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(from_folder[i], from_converted[i]) << all[i];
    EXPECT_EQ(from_folder.back().front(), test::kQwenTiktokenBos);

    // What llama.cpp's converter writes: the ranks' tokens in the byte-level alphabet, every
    // special id a control token, the merges derived from the ranks (here Qwen's own list).
    const TokenizerSpec qwen = read_hf_tokenizer(test::fixture("tokenizer/qwen3"));
    GgufFile g(converted);
    EXPECT_EQ(g.get("tokenizer.ggml.pre").as_string(""), "kimi-k2");
    const auto tokens = strings_of(g, "tokenizer.ggml.tokens");
    ASSERT_EQ(tokens.size(), test::kQwenRanks + 256);
    EXPECT_TRUE(std::equal(qwen.tokens.begin(), qwen.tokens.begin() + test::kQwenRanks, tokens.begin()));
    EXPECT_EQ(tokens[test::kQwenTiktokenBos], "[BOS]");
    EXPECT_EQ(tokens[151700], "<|reserved_token_151700|>");
    const auto& types = g.get("tokenizer.ggml.token_type").as_array("").items;
    EXPECT_EQ(types[0].as_int(""), int(TokenType::Normal));
    EXPECT_EQ(types[test::kQwenRanks - 1].as_int(""), int(TokenType::Normal));
    for (size_t id = test::kQwenRanks; id < tokens.size(); ++id) EXPECT_EQ(types[id].as_int(""), int(TokenType::Control)) << id;
    std::vector<std::string> merges;
    for (const auto& [a, b] : qwen.merges) merges.push_back(a + " " + b);
    EXPECT_EQ(strings_of(g, "tokenizer.ggml.merges"), merges);
    EXPECT_EQ(g.get("tokenizer.ggml.bos_token_id").as_int(""), test::kQwenTiktokenBos);
    EXPECT_EQ(g.get("tokenizer.ggml.eos_token_id").as_int(""), test::kQwenTiktokenEos);
    EXPECT_TRUE(g.get("tokenizer.ggml.add_bos_token").as_bool(""));

    const std::string interop = test::source_dir() + "/tests/interop";
    if (!std::filesystem::exists(interop + "/node_modules/node-llama-cpp"))
        GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp (node-llama-cpp)";
    // llama.cpp splits Kimi's text as sluice does but for case changes inside a word (above).
    const std::vector<std::string> common = texts();
    test::write_file(tmp.file("texts.json"), json(common).dump());
    auto r = test::run_command("node " + interop + "/llama_tokenize.mjs " + converted + " " + tmp.file("texts.json"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto llama = json::parse(r.out).get<std::vector<Ids>>();
    ASSERT_EQ(llama.size(), common.size());
    for (size_t i = 0; i < common.size(); ++i) EXPECT_EQ(from_folder[i], llama[i]) << common[i];
}

// A model whose vocabulary ends before the special ids keeps the reserved ones out, as
// llama.cpp's converter does; a named one that would be lost is refused.
TEST(TokenizerFamilies, ConvertedTiktokenVocabularyStopsAtTheModels) {
    test::TempDir tmp, folder_dir;
    const std::string folder = test::write_qwen3_tiktoken_folder(folder_dir);
    GgufFile g(write_converted_gguf(tmp, folder, test::kQwenTiktokenEos + 1));
    EXPECT_EQ(strings_of(g, "tokenizer.ggml.tokens").back(), "[EOS]");
    EXPECT_EQ(test::error_of([&] { write_converted_gguf(tmp, folder, test::kQwenTiktokenEos); }),
              folder + "/tiktoken.model: token \"[EOS]\" (id 151670) is outside the model's vocabulary of 151670");
}

}  // namespace
}  // namespace sluice
