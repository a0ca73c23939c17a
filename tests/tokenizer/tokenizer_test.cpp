// The Qwen3 tokenizer against Hugging Face tokenizers' output (fixtures/tokenizer/qwen3), the
// tiny fixture tokenizer, and one clear error for each kind of bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer_fixtures.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/limits.h"

namespace sluice {
namespace {

using nlohmann::json;

const Tokenizer& qwen3() { return test::qwen3_tokenizer(); }

json reference() { return json::parse(test::read_file(test::fixture("tokenizer/qwen3/reference.json"))); }

TEST(Qwen3Tokenizer, EncodesEveryReferenceTextExactly) {
    json ref = reference();
    ASSERT_GE(ref["encode"].size(), 30u);
    for (const json& e : ref["encode"]) {
        const std::string text = e["text"];
        EXPECT_EQ(qwen3().encode(text), e["ids"].get<std::vector<int32_t>>()) << text;
    }
}

TEST(Qwen3Tokenizer, DecodesEveryReferenceTextExactly) {
    const json ref = reference();
    for (const json& e : ref["encode"]) {
        auto ids = e["ids"].get<std::vector<int32_t>>();
        EXPECT_EQ(qwen3().decode(ids), e["decoded"].get<std::string>()) << e["text"];
    }
}

TEST(Qwen3Tokenizer, KnowsItsSpecialTokens) {
    const Tokenizer& t = qwen3();
    EXPECT_EQ(t.vocab_size(), 151669);
    EXPECT_EQ(t.added_token("<|im_end|>"), 151645);
    EXPECT_EQ(t.added_token("<think>"), 151667);
    EXPECT_EQ(t.eos(), 151645);
    EXPECT_TRUE(t.is_stop(151645));
    EXPECT_TRUE(t.is_stop(151643));
    EXPECT_FALSE(t.is_stop(151644));
    EXPECT_FALSE(t.chat_template().empty());
}

TEST(Qwen3Tokenizer, LongestAddedTokenWinsAndPartialMarkersAreText) {
    const Tokenizer& t = qwen3();
    // "<tool_call>" and "</tool_call>" share no prefix problem, but "<|im_start" alone is text.
    auto ids = t.encode("<|im_start|><|im_start");
    ASSERT_GE(ids.size(), 2u);
    EXPECT_EQ(ids[0], 151644);
    EXPECT_NE(ids[1], 151644);
    EXPECT_EQ(t.decode(ids), "<|im_start|><|im_start");
}

TEST(Qwen3Tokenizer, RoundTripsBytesOfEveryKind) {
    const Tokenizer& t = qwen3();
    std::string all;
    for (int c = 1; c < 0x80; ++c) all += char(c);
    all += "\u00e9\u4e2d\U0001F600 \t\r\n\u00a0\u2028x";
    EXPECT_EQ(t.decode(t.encode(all)), all);
}

TEST(TinyTokenizer, RoundTripsAndUsesItsMerges) {
    const Tokenizer& t = test::tiny_tokenizer();
    EXPECT_EQ(t.vocab_size(), 512);
    EXPECT_EQ(t.eos(), 511);
    const std::string text = "The hacker wrote a program which the system ran.\n<|im_start|>user\nhi<|im_end|>";
    auto ids = t.encode(text);
    EXPECT_LT(ids.size(), text.size() / 2);
    EXPECT_EQ(t.decode(ids), text);
}

// --- bad input: one clear line naming the problem ---

using test::error_of;

TEST(TokenizerErrors, InvalidUtf8IsRefusedWithItsOffset) {
    std::string msg = error_of([] { qwen3().encode("caf\xC3 ok"); });
    EXPECT_NE(msg.find("not valid UTF-8"), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset 3"), std::string::npos) << msg;
    EXPECT_NE(error_of([] { qwen3().encode("\xED\xA0\x80"); }).find("not valid UTF-8"), std::string::npos);  // surrogate
    EXPECT_NE(error_of([] { qwen3().encode("\xC0\xAF"); }).find("not valid UTF-8"), std::string::npos);      // overlong
}

TEST(TokenizerErrors, MissingFieldIsNamed) {
    test::TempDir tmp;
    json t = json::parse(test::read_file(test::fixture("models/qwen3moe-tiny/tokenizer.json")));
    t["model"].erase("merges");
    test::write_file(tmp.file("tokenizer.json"), t.dump());
    std::string msg = error_of([&] { read_hf_tokenizer(tmp.path().string()); });
    EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.merges"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// Limits and guarantees (README): a token id sizes the vocabulary table, so the largest id is
// checked first; an id of 2^62 used to ask for that many strings. Wrong types are one line.
TEST(TokenizerErrors, VocabularyLimitAndWrongTypes) {
    test::TempDir tmp;
    const json base = json::parse(test::read_file(test::fixture("models/qwen3moe-tiny/tokenizer.json")));
    json t = base;
    t["added_tokens"].push_back({{"id", limits::kMaxVocab - 1}, {"content", "<|last|>"}, {"special", true}});
    test::write_file(tmp.file("tokenizer.json"), t.dump());
    EXPECT_EQ(read_hf_tokenizer(tmp.file("tokenizer.json")).tokens.size(), size_t(limits::kMaxVocab));
    for (int64_t id : {limits::kMaxVocab, int64_t(1) << 62}) {
        t = base;
        t["model"]["vocab"]["zz"] = id;
        test::write_file(tmp.file("tokenizer.json"), t.dump());
        std::string msg = error_of([&] { read_hf_tokenizer(tmp.file("tokenizer.json")); });
        EXPECT_NE(msg.find("model.vocab[\"zz\"] is not a token id (0 to 1048575)"), std::string::npos) << msg;
    }
    t = base;
    t["normalizer"] = json::array({1});
    test::write_file(tmp.file("tokenizer.json"), t.dump());
    std::string msg = error_of([&] { read_hf_tokenizer(tmp.file("tokenizer.json")); });
    EXPECT_NE(msg.find("tokenizer.json: a field has the wrong type"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(TokenizerErrors, UnsupportedPreTokeniserIsNamed) {
    test::TempDir tmp;
    const json base = json::parse(test::read_file(test::fixture("models/qwen3moe-tiny/tokenizer.json")));
    const json split = base["pre_tokenizer"]["pretokenizers"][0];
    const json byte_level = base["pre_tokenizer"]["pretokenizers"][1];
    json inverted = split;
    inverted["invert"] = true;
    json literal = split;
    literal["pattern"] = {{"String", " "}};
    for (const json& pre : {json{{"type", "Whitespace"}}, byte_level,
                            json{{"type", "Sequence"}, {"pretokenizers", {split, byte_level, split}}},
                            json{{"type", "Sequence"}, {"pretokenizers", {split, byte_level, byte_level}}},
                            json{{"type", "Sequence"}, {"pretokenizers", {inverted, byte_level}}},
                            json{{"type", "Sequence"}, {"pretokenizers", {literal, byte_level}}}}) {
        json t = base;
        t["pre_tokenizer"] = pre;
        test::write_file(tmp.file("tokenizer.json"), t.dump());
        std::string msg = error_of([&] { read_hf_tokenizer(tmp.file("tokenizer.json")); });
        EXPECT_NE(msg.find("tokenizer.json: pre_tokenizer"), std::string::npos) << msg;
        if (pre.value("type", "") == "Whitespace") {
            EXPECT_NE(msg.find("Whitespace"), std::string::npos) << msg;   // the step is named
        }
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    json t = base;
    t["normalizer"] = {{"type", "NFKC"}};
    test::write_file(tmp.file("tokenizer.json"), t.dump());
    std::string msg = error_of([&] { read_hf_tokenizer(tmp.file("tokenizer.json")); });
    EXPECT_NE(msg.find("normalizer {\"type\":\"NFKC\"} is not supported (NFC or none)"), std::string::npos) << msg;
}

// DeepSeek-V3's tokenizer.json: three Isolated Splits, then ByteLevel; its normaliser is an
// empty Sequence.
TEST(HfTokenizer, ReadsASequenceOfSplitsAndAnEmptyNormaliser) {
    test::TempDir tmp;
    json t = json::parse(test::read_file(test::fixture("models/qwen3moe-tiny/tokenizer.json")));
    json steps = json::array();
    for (const char* regex : {"\\p{N}{1,3}", "[a-z]+", "\\s+"})
        steps.push_back({{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}});
    steps.push_back(t["pre_tokenizer"]["pretokenizers"][1]);
    t["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", steps}};
    t["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
    test::write_file(tmp.file("tokenizer.json"), t.dump());
    const TokenizerSpec spec = read_hf_tokenizer(tmp.file("tokenizer.json"));
    EXPECT_EQ(spec.split_patterns, (std::vector<std::string>{"\\p{N}{1,3}", "[a-z]+", "\\s+"}));
    EXPECT_FALSE(spec.nfc);
    EXPECT_TRUE(read_hf_tokenizer(test::fixture("models/qwen3moe-tiny/tokenizer.json")).nfc);
}

// Harmony (gpt-oss) ends a reply with <|return|> or, for a tool call, <|call|>, whichever id the
// file calls eos; <|end|> only ends a message (the analysis before the answer).
TEST(TinyTokenizer, HarmonyRepliesStopAtReturnAndCall) {
    TokenizerSpec spec = read_hf_tokenizer(test::fixture("models/qwen3moe-tiny/tokenizer.json"));
    spec.eos = -1;
    spec.stop_ids.clear();
    const int32_t first = int32_t(spec.tokens.size());
    for (const char* t : {"<|return|>", "<|call|>", "<|end|>"}) {
        spec.tokens.push_back(t);
        spec.types.push_back(TokenType::Control);
    }
    Tokenizer t(spec);
    EXPECT_TRUE(t.is_stop(first));
    EXPECT_TRUE(t.is_stop(first + 1));
    EXPECT_FALSE(t.is_stop(first + 2));
}

TEST(TokenizerErrors, MergeOutsideTheVocabularyIsNamed) {
    TokenizerSpec spec = read_hf_tokenizer(test::fixture("models/qwen3moe-tiny/tokenizer.json"));
    spec.merges.emplace_back("zz", "q");
    std::string msg = error_of([&] { Tokenizer t(spec); });
    EXPECT_NE(msg.find("merge 253"), std::string::npos) << msg;
}

TEST(TokenizerErrors, IdOutsideTheVocabularyIsNamed) {
    std::vector<int32_t> ids{1, 999999};
    EXPECT_NE(error_of([&] { qwen3().decode(ids); }).find("outside the vocabulary"), std::string::npos);
}

}  // namespace
}  // namespace sluice
