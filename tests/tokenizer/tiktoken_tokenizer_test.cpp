// Kimi-K2's tokenizer folder (tiktoken.model, no tokenizer.json) built from the real Qwen3
// vocabulary, whose ids are its ranks: the merges derived from the ranks are Qwen's own merge
// list, the special ids take their names from added_tokens_decoder, and each kind of malformed
// line is one error naming the file and line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tiktoken_folder.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_fixtures.h"
#include "util/base64.h"

namespace sluice {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

using test::kQwenRanks;
constexpr int32_t kBos = test::kQwenTiktokenBos, kEos = test::kQwenTiktokenEos;

std::string qwen_tiktoken_folder(const test::TempDir& tmp) { return test::write_qwen3_tiktoken_folder(tmp); }

TEST(Tiktoken, RanksGiveQwensTokensAndMergeList) {
    test::TempDir tmp;
    const TokenizerSpec qwen = read_hf_tokenizer(test::fixture("tokenizer/qwen3"));
    const TokenizerSpec t = read_hf_tokenizer(qwen_tiktoken_folder(tmp));
    EXPECT_EQ(t.source, tmp.file("tiktoken.model"));
    ASSERT_EQ(t.tokens.size(), kQwenRanks + kTiktokenSpecialIds);
    EXPECT_TRUE(std::equal(t.tokens.begin(), t.tokens.begin() + kQwenRanks, qwen.tokens.begin()));
    // Qwen's vocabulary was trained so: each token's merge is BPE's last step with the ranks below
    // it, so derivation gives back all 151,387 merges, in order.
    EXPECT_EQ(t.merges, qwen.merges);
    EXPECT_FALSE(t.nfc);
    EXPECT_EQ(t.bos, kBos);
    EXPECT_EQ(t.eos, kEos);
    EXPECT_TRUE(t.add_bos);
    EXPECT_EQ(t.chat_template, "{{ messages }}");
}

TEST(Tiktoken, SpecialIdsAreNamedOrReserved) {
    test::TempDir tmp;
    const Tokenizer t(read_hf_tokenizer(qwen_tiktoken_folder(tmp)));
    EXPECT_EQ(t.vocab_size(), int32_t(kQwenRanks + kTiktokenSpecialIds));
    EXPECT_EQ(t.added_token("[BOS]"), kBos);
    EXPECT_EQ(t.added_token("<|im_end|>"), 151645);
    EXPECT_EQ(t.added_token("<|reserved_token_151700|>"), 151700);
    EXPECT_EQ(t.added_token("<|reserved_token_151898|>"), 151898);
    EXPECT_EQ(t.added_token("<|reserved_token_151899|>"), -1);
    EXPECT_TRUE(t.is_stop(kEos));
    const Ids hi = t.encode("Hi");
    Ids want{kBos, 151644};
    want.insert(want.end(), hi.begin(), hi.end());
    want.insert(want.end(), {151700, kEos});
    EXPECT_EQ(t.encode_prompt("<|im_start|>Hi<|reserved_token_151700|>[EOS]"), want);
    EXPECT_EQ(t.decode(want), "[BOS]<|im_start|>Hi<|reserved_token_151700|>[EOS]");
}

TEST(Base64, DecodesCanonicalTextOnly) {
    EXPECT_EQ(decode_base64("SGk="), "Hi");
    EXPECT_EQ(decode_base64("SGVsbG8="), "Hello");
    EXPECT_EQ(decode_base64("AA=="), std::string(1, '\0'));
    EXPECT_EQ(decode_base64("/+8="), "\xff\xef");
    for (const std::string bytes : {"", "a", "ab", "abc", "\x80\xff\x01 z"}) EXPECT_EQ(decode_base64(test::base64(bytes)), bytes);
    for (const char* bad : {"SGk", "SG!=", "S===", "SGl=", "=SGk", "SG=k"}) EXPECT_EQ(decode_base64(bad), std::nullopt) << bad;
}

// A folder whose tiktoken.model is `lines`, and the error reading it gives.
std::string error_for(const std::string& lines, const json& config = json::object()) {
    test::TempDir tmp;
    test::write_file(tmp.file("tiktoken.model"), lines);
    test::write_file(tmp.file("tokenizer_config.json"), config.dump());
    const std::string e = test::error_of([&] { read_hf_tokenizer(tmp.path().string()); });
    const std::string prefix = tmp.path().string() + "/";
    return e.rfind(prefix, 0) == 0 ? e.substr(prefix.size()) : e;
}

TEST(TiktokenErrors, EachBadLineIsNamed) {
    // "IQ==" is "!", "Ig==" is "\"".
    EXPECT_EQ(error_for("IQ== 0\nIg==\n"), "tiktoken.model:2: expected the token's base64, one space and its rank, not \"Ig==\"");
    EXPECT_EQ(error_for("IQ== 0\nIg== one\n"), "tiktoken.model:2: rank \"one\" is not a number from 0 to 1048575");
    EXPECT_EQ(error_for("IQ== -1\n"), "tiktoken.model:1: rank \"-1\" is not a number from 0 to 1048575");
    EXPECT_EQ(error_for("IQ== 0\nI*== 1\n"), "tiktoken.model:2: \"I*==\" is not base64");
    EXPECT_EQ(error_for("IQ== 0\n 1\n"), "tiktoken.model:2: expected the token's base64, one space and its rank, not \" 1\"");
    EXPECT_EQ(error_for("IQ== 0\nIg== 0\n"), "tiktoken.model:2: rank 0 is also the rank of line 1");
    EXPECT_EQ(error_for("IQ== 0\n\nIQ== 1\n"), "tiktoken.model:3: the token's bytes are also those of line 1");
    EXPECT_EQ(error_for("IQ== 0\nIg== 2\n"),
              "tiktoken.model: rank 1 is missing (the ranks go up to 2; each from 0 must be given once)");
    EXPECT_EQ(error_for(""), "tiktoken.model: no tokens");
}

TEST(TiktokenErrors, SpecialIdsOutsideTheReservedRangeAreNamed) {
    const std::string two_ranks = "IQ== 0\nIg== 1\n";
    EXPECT_EQ(error_for(two_ranks, {{"added_tokens_decoder", {{"1", test::added_token("[BOS]")}}}}),
              "tokenizer_config.json: added_tokens_decoder id \"1\" is not one of the 256 special ids after "
              "tiktoken.model's 2 ranks (2 to 257)");
    EXPECT_EQ(error_for(two_ranks, {{"added_tokens_decoder", {{"258", test::added_token("[BOS]")}}}}),
              "tokenizer_config.json: added_tokens_decoder id \"258\" is not one of the 256 special ids after "
              "tiktoken.model's 2 ranks (2 to 257)");
    EXPECT_EQ(error_for(two_ranks, {{"added_tokens_decoder", {{"2", {{"special", true}}}}}}),
              "tokenizer_config.json: added_tokens_decoder[\"2\"] has no \"content\" string");
    // A vocabulary must hold every byte for byte-level BPE: the tokenizer says which is missing.
    test::TempDir tmp;
    test::write_file(tmp.file("tiktoken.model"), two_ranks);
    EXPECT_EQ(test::error_of([&] { Tokenizer t(read_hf_tokenizer(tmp.path().string())); }),
              tmp.file("tiktoken.model") + ": the vocabulary has no token for byte 0x00");
}

}  // namespace
}  // namespace sluice
