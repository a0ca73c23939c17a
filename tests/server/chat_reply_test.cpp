#include <gtest/gtest.h>

#include "server/chat_reply.h"

namespace sluice::server {
namespace {

using nlohmann::json;

// Tool calls in both Qwen formats come back in OpenAI's: arguments as a JSON string, content
// null when the reply is only calls, finish_reason "tool_calls".
TEST(ChatReply, ToolCallsInOpenAiFormat) {
    const std::pair<ChatStyle, std::string> replies[] = {
        {ChatStyle::Qwen3, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"},
        {ChatStyle::Qwen35, "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"},
    };
    for (const auto& [style, text] : replies) {
        SCOPED_TRACE(text);
        std::string finish = "stop";
        const json m = chat_message_json(text, false, style, true, finish);
        EXPECT_EQ(finish, "tool_calls");
        EXPECT_TRUE(m["content"].is_null());
        ASSERT_EQ(m["tool_calls"].size(), 1u);
        const json& call = m["tool_calls"][0];
        EXPECT_EQ(call["type"], "function");
        EXPECT_EQ(call["function"]["name"], "get_weather");
        EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()), json({{"city", "Paris"}}));
        EXPECT_TRUE(call["id"].get<std::string>().starts_with("call_"));
        EXPECT_FALSE(call.contains("index"));
    }
}

TEST(ChatReply, WithoutToolsABlockStaysText) {
    std::string finish = "stop";
    const std::string text = "Sure.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>";
    const json m = chat_message_json(text, false, ChatStyle::Qwen3, false, finish);
    EXPECT_EQ(finish, "stop");
    EXPECT_EQ(m["content"], text);
    EXPECT_FALSE(m.contains("tool_calls"));
}

TEST(ChatReply, ThinkingBecomesReasoningContent) {
    std::string finish = "stop";
    json m = chat_message_json("Let me think.\n</think>\n\nIt is 4.", true, ChatStyle::Qwen35, false, finish);
    EXPECT_EQ(m["reasoning_content"], "Let me think.");
    EXPECT_EQ(m["content"], "It is 4.");
    m = chat_message_json("<think>\nHmm.\n</think>\n\nYes.", false, ChatStyle::Qwen3, false, finish);
    EXPECT_EQ(m["reasoning_content"], "Hmm.");
    EXPECT_EQ(m["content"], "Yes.");
    // Cut off while thinking: all of it is reasoning, the answer empty.
    m = chat_message_json("Still thinking", true, ChatStyle::Qwen35, false, finish);
    EXPECT_EQ(m["reasoning_content"], "Still thinking");
    EXPECT_EQ(m["content"], "");
}

}  // namespace
}  // namespace sluice::server
