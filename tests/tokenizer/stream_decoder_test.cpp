// Streaming detokenisation: characters split across tokens come out whole, in order, and the
// concatenated stream equals a one-shot decode.
#include <gtest/gtest.h>

#include "tokenizer_fixtures.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"

namespace sluice {
namespace {

const Tokenizer& qwen3() { return test::qwen3_tokenizer(); }

TEST(StreamDecoder, HoldsBackSplitCharactersAndNeverEmitsHalfOfOne) {
    const Tokenizer& t = qwen3();
    const std::string text = "emoji 😀👍🏽 and family 👨‍👩‍👧‍👦, 你好 ok";
    auto ids = t.encode(text);
    // The emoji are encoded as several tokens each, some ending inside a character.
    bool split_inside = false;
    for (int32_t id : ids)
        if (incomplete_utf8_tail(t.token_bytes(id)) > 0) split_inside = true;
    ASSERT_TRUE(split_inside);

    StreamDecoder d(t);
    std::string streamed;
    for (int32_t id : ids) {
        std::string piece = d.push(id);
        EXPECT_EQ(find_invalid_utf8(piece), std::string::npos) << "half a character after token " << id;
        streamed += piece;
    }
    streamed += d.finish();
    EXPECT_EQ(streamed, text);
}

TEST(StreamDecoder, FourByteCharacterOneByteAtATime) {
    // The tiny tokenizer has a token per byte: 😀 (F0 9F 98 80) arrives as four tokens.
    const Tokenizer& t = test::tiny_tokenizer();
    auto ids = t.encode("a😀b");
    ASSERT_EQ(ids.size(), 6u);
    StreamDecoder d(t);
    EXPECT_EQ(d.push(ids[0]), "a");
    EXPECT_EQ(d.push(ids[1]), "");
    EXPECT_EQ(d.push(ids[2]), "");
    EXPECT_EQ(d.push(ids[3]), "");
    EXPECT_EQ(d.push(ids[4]), "😀");
    EXPECT_EQ(d.push(ids[5]), "b");
    EXPECT_EQ(d.finish(), "");
}

TEST(StreamDecoder, BytesThatCannotFormACharacterBecomeReplacementCharacters) {
    const Tokenizer& t = test::tiny_tokenizer();
    auto lead = t.encode("😀");  // F0 9F 98 80, one token per byte
    ASSERT_EQ(lead.size(), 4u);
    StreamDecoder d(t);
    EXPECT_EQ(d.push(lead[0]), "");
    EXPECT_EQ(d.push(lead[1]), "");
    // A new character starts before the emoji finished: the broken start is one U+FFFD.
    EXPECT_EQ(d.push(t.encode("x")[0]), "\uFFFDx");
    EXPECT_EQ(d.push(lead[3]), "\uFFFD");  // a lone continuation byte
    EXPECT_EQ(d.push(lead[0]), "");
    EXPECT_EQ(d.finish(), "\uFFFD");       // the stream ended inside a character
}

}  // namespace
}  // namespace sluice
