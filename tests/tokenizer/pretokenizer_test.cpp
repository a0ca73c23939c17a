// The pre-tokenisers of the model families sluice runs, by their llama.cpp names: pieces of
// hand-picked strings, derived from each regex's semantics (and checked against Python's
// `regex` module on the original patterns), and the Sequence of several Splits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.h"
#include "tokenizer/pretokenizer.h"

namespace sluice {
namespace {

using Pieces = std::vector<std::string>;

using test::error_of;

Pieces split(const PreTokenizer& pre, std::string_view text) {
    Pieces out;
    pre.split(text, [&](std::string_view p) { out.emplace_back(p); });
    return out;
}

Pieces split(const char* name, std::string_view text) {
    const PreTokenizerPreset* preset = pretokenizer_preset(name);
    if (!preset) throw std::runtime_error(std::string("no preset ") + name);
    return split(PreTokenizer(preset->patterns, name), text);
}

struct Case {
    const char* text;
    Pieces glm4, deepseek_v3, gpt_4o, kimi_k2;
};

// Where the families agree, one expectation stands for all four.
const std::vector<Case>& cases() {
    static const std::vector<Case> c = [] {
        std::vector<Case> v;
        auto same = [&](const char* text, const Pieces& p) { v.push_back({text, p, p, p, p}); };
        // Digit runs of 1 to 7: every family cuts them into threes from the left.
        same("1 12 123 1234 12345 123456 1234567",
             {"1", " ", "12", " ", "123", " ", "123", "4", " ", "123", "45", " ", "123", "456", " ", "123", "456", "7"});
        same("abc123def", {"abc", "123", "def"});
        // Code: punctuation runs take trailing newlines; spaces before a word go with it, the last
        // of a run of spaces too; a tab leads a word.
        same("def f(x):\n\treturn x**2  # ok\n\n",
             {"def", " f", "(x", "):\n", "\treturn", " x", "**", "2", " ", " #", " ok", "\n\n"});
        same("  hello   world  ", {" ", " hello", "  ", " world", "  "});
        same("$foo.bar!! (yes)", {"$foo", ".bar", "!!", " (", "yes", ")"});
        same("a.b\r\nc", {"a", ".b", "\r\n", "c"});
        same("He said \"hi\"!\n", {"He", " said", " \"", "hi", "\"!\n"});
        // English contractions: a piece of their own in GLM's and DeepSeek's, part of the word in
        // o200k's and Kimi's.
        const Pieces apart{"I", "'m", " sure", " they", "'ll", " say", " it", "'s", " fine", ",", " WE", "'RE", " told", "."};
        const Pieces joined{"I'm", " sure", " they'll", " say", " it's", " fine", ",", " WE'RE", " told", "."};
        v.push_back({"I'm sure they'll say it's fine, WE'RE told.", apart, apart, joined, joined});
        // Case changes: o200k and Kimi split before an upper-case letter that follows a lower-case
        // one (HTTPServer stays whole: upper-case run, then lower-case), also outside ASCII.
        const Pieces whole{"HTTPServer", " camelCase", " getElementById"};
        const Pieces cased{"HTTPServer", " camel", "Case", " get", "Element", "By", "Id"};
        v.push_back({"HTTPServer camelCase getElementById", whole, whole, cased, cased});
        v.push_back({"naïveÉcole", {"naïveÉcole"}, {"naïveÉcole"}, {"naïve", "École"}, {"naïve", "École"}});
        // Chinese: DeepSeek splits off CJK ideographs, Kimi runs of Han (人々 is Han by Script;
        // 々 is not in DeepSeek's range), and 。「 is punctuation in all.
        v.push_back({"你好，世界。「人々」",
                     {"你好", "，世界", "。「", "人々", "」"},
                     {"你好", "，", "世界", "。「", "人", "々", "」"},
                     {"你好", "，世界", "。「", "人々", "」"},
                     {"你好", "，", "世界", "。「", "人々", "」"}});
        // Japanese: kana join DeepSeek's CJK run; Kimi's Han run ends at the first kana.
        const Pieces ja{"日本語のテキストです"};
        v.push_back({"日本語のテキストです", ja, ja, ja, {"日本語", "のテキストです"}});
        v.push_back({"x你好y", {"x你好y"}, {"x", "你好", "y"}, {"x你好y"}, {"x", "你好", "y"}});
        // Combining marks: a letter class without \p{M} (GLM's) leaves a decomposed accent and
        // Devanagari's vowel signs and virama apart; the others keep the word whole.
        const Pieces marked{"café", " naïve", " e\u0301", " Ωmega"};
        v.push_back({"café naïve e\u0301 Ωmega", {"café", " naïve", " e", "\u0301", " Ωmega"}, marked, marked, marked});
        v.push_back({"नमस्ते", {"नमस", "्त", "े"}, {"नमस्ते"}, {"नमस्ते"}, {"नमस्ते"}});
        // Emoji are symbols: DeepSeek's optional leading character excludes them.
        const Pieces emoji{"😀", " emoji", "🎉ok"};
        v.push_back({"😀 emoji🎉ok", emoji, {"😀", " emoji", "🎉", "ok"}, emoji, emoji});
        return v;
    }();
    return c;
}

TEST(PreTokenizerPresets, SplitEachFamilysTextAsItsRegexSays) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.text);
        EXPECT_EQ(split("glm4", c.text), c.glm4);
        EXPECT_EQ(split("deepseek-v3", c.text), c.deepseek_v3);
        EXPECT_EQ(split("gpt-4o", c.text), c.gpt_4o);
        EXPECT_EQ(split("kimi-k2", c.text), c.kimi_k2);
    }
}

TEST(PreTokenizerPresets, QwenSplitsDigitsOneByOne) {
    EXPECT_EQ(split("qwen2", "x 2024"), (Pieces{"x", " ", "2", "0", "2", "4"}));
    EXPECT_EQ(split("qwen35", "e\u0301 2024"), (Pieces{"e\u0301", " ", "2", "0", "2", "4"}));
}

// PCRE2's bare \p{Han} is Script_Extensions, which takes in Chinese punctuation; Kimi's
// tokenizer (Rust's regex) means the Script property.
TEST(PreTokenizerPresets, KimiHanRunsStopAtChinesePunctuation) {
    EXPECT_EQ(split("kimi-k2", "你好。世界"), (Pieces{"你好", "。", "世界"}));
    EXPECT_EQ(split("kimi-k2", "〇々"), (Pieces{"〇々"}));  // both Han by Script
}

TEST(PreTokenizerPresets, OnlyQwenNormalisesToNfc) {
    for (const char* name : {"qwen2", "qwen35"}) EXPECT_TRUE(pretokenizer_preset(name)->nfc) << name;
    for (const char* name : {"glm4", "deepseek-v3", "gpt-4o", "kimi-k2"}) EXPECT_FALSE(pretokenizer_preset(name)->nfc) << name;
    EXPECT_EQ(pretokenizer_preset("deepseek-v3")->patterns.size(), 3u);
    EXPECT_EQ(pretokenizer_preset("llama-bpe"), nullptr);
    EXPECT_EQ(known_pretokenizers(), "qwen2, qwen35, glm4, deepseek-v3, gpt-4o, kimi-k2");
}

// Each regex of a sequence splits every piece of the one before: "b" splits "byb", a piece of
// the first step, but nothing joins across the first step's cuts.
TEST(PreTokenizerSequence, LaterRegexesSplitThePiecesOfEarlierOnes) {
    const PreTokenizer pre({"a+", "b|xa"}, "test");
    EXPECT_EQ(split(pre, "xaabyb"), (Pieces{"x", "aa", "b", "y", "b"}));
    EXPECT_EQ(split(pre, ""), Pieces{});
    const PreTokenizer one({"b|xa"}, "test");
    EXPECT_EQ(split(one, "xaabyb"), (Pieces{"xa", "a", "b", "y", "b"}));
}

TEST(PreTokenizerErrors, BadRegexOrNoneIsNamed) {
    std::string msg = error_of([] { PreTokenizer({"a+", "(b"}, "t.json"); });
    EXPECT_NE(msg.find("t.json: the pre-tokeniser regex \"(b\" does not compile"), std::string::npos) << msg;
    msg = error_of([] { PreTokenizer({}, "t.json"); });
    EXPECT_NE(msg.find("t.json: the pre-tokeniser has no split regex"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sluice
