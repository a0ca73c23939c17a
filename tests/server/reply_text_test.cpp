#include <gtest/gtest.h>

#include "server/reply_splitter.h"
#include "server/stop_matcher.h"

namespace sluice::server {
namespace {

// Feeds `text` one byte at a time, collecting what is released.
std::string through(StopMatcher& m, const std::string& text) {
    std::string out;
    for (char c : text) out += m.push(std::string(1, c));
    if (!m.stopped()) out += m.finish();
    return out;
}

TEST(StopMatcher, CutsAtTheFirstStopStringAndHoldsBackPartialMatches) {
    StopMatcher m({"END", "xyz"});
    EXPECT_EQ(m.push("abc E"), "abc ");   // "E" may begin END
    EXPECT_EQ(m.push("N"), "");
    EXPECT_EQ(m.push("Dafter"), "");
    EXPECT_TRUE(m.stopped());
    StopMatcher n({"END"});
    EXPECT_EQ(through(n, "an ENDING"), "an ");
    StopMatcher p({"END"});
    EXPECT_EQ(through(p, "EN EN E"), "EN EN E");   // never completed: all of it comes out
    EXPECT_FALSE(p.stopped());
}

ReplyDelta split(ReplySplitter& s, const std::string& text) {
    ReplyDelta all;
    for (char c : text) {
        const ReplyDelta d = s.push(std::string(1, c));
        all.reasoning += d.reasoning;
        all.content += d.content;
    }
    const ReplyDelta d = s.finish();
    all.reasoning += d.reasoning;
    all.content += d.content;
    return all;
}

TEST(ReplySplitter, SeparatesThinkingFromTheAnswer) {
    ReplySplitter opened(true, false);
    ReplyDelta d = split(opened, "let me see</think>\n\nIt is 4.");
    EXPECT_EQ(d.reasoning, "let me see");
    EXPECT_EQ(d.content, "It is 4.");
    ReplySplitter tagged(false, false);
    d = split(tagged, "<think>hmm</think>Yes");
    EXPECT_EQ(d.reasoning, "hmm");
    EXPECT_EQ(d.content, "Yes");
    ReplySplitter plain(false, false);
    d = split(plain, "<thin but not a tag");
    EXPECT_EQ(d.reasoning, "");
    EXPECT_EQ(d.content, "<thin but not a tag");
}

TEST(ReplySplitter, HoldsBackToolCallBlocks) {
    ReplySplitter s(false, true);
    const ReplyDelta d = split(s, "Calling.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>");
    EXPECT_EQ(d.content, "Calling.\n");
    ReplySplitter no_tools(false, false);
    EXPECT_EQ(split(no_tools, "a <tool_call> b").content, "a <tool_call> b");
}

}  // namespace
}  // namespace sluice::server
