// gpt-oss's harmony chat format against the Jinja rendering of its template
// (tests/tokenizer/data/harmony: tools/harmony/render_references.py on llama.cpp's
// models/templates/openai-gpt-oss-120b.jinja), and its replies parsed back into analysis,
// final text and tool calls.
#include <gtest/gtest.h>

#include "test_support.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/harmony.h"
#include "util/error.h"

namespace sluice {
namespace {

using nlohmann::ordered_json;

ChatOptions options_of(const ordered_json& c) {
    ChatOptions o;
    o.add_generation_prompt = c.value("add_generation_prompt", true);
    if (c.contains("tools")) o.tools = c["tools"];
    o.reasoning_effort = c.value("reasoning_effort", "");
    o.current_date = c["date"].get<std::string>();
    return o;
}

TEST(Harmony, RendersWhatTheJinjaTemplateRenders) {
    const ordered_json ref =
        ordered_json::parse(test::read_file(test::source_dir() + "/tests/tokenizer/data/harmony/reference.json"));
    ASSERT_GE(ref["cases"].size(), 10u);
    const ChatTemplate tmpl(ChatStyle::Harmony);
    for (const ordered_json& c : ref["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        const auto messages = chat_messages_from_json(c["messages"]);
        if (c.contains("error")) {
            EXPECT_THROW(tmpl.render(messages, options_of(c)), Error);
            continue;
        }
        EXPECT_EQ(tmpl.render(messages, options_of(c)), c["rendered"].get<std::string>());
    }
}

TEST(Harmony, RecognisesTheTemplateAndDatesTheSystemMessageToday) {
    EXPECT_EQ(ChatTemplate("{{- \"<|start|>system<|message|>\" }}{{ \"<|channel|>final\" }}", "m").style(), ChatStyle::Harmony);
    ChatMessage user;
    user.role = "user";
    user.content = "hi";
    const std::string rendered = render_harmony({user}, ChatOptions{});
    const size_t at = rendered.find("Current date: ");
    ASSERT_NE(at, std::string::npos);
    const std::string date = rendered.substr(at + 14, 10);
    EXPECT_EQ(date.size(), 10u);
    EXPECT_EQ(date[4], '-');
    EXPECT_EQ(date[7], '-');
}

TEST(Harmony, ReplySplitsAnalysisFinalAndToolCalls) {
    const ParsedReply a = parse_reply(
        "<|channel|>analysis<|message|>User greets. Answer briefly.<|end|><|start|>assistant<|channel|>final<|message|>Hello! "
        "How can I help?<|return|>",
        ChatStyle::Harmony);
    EXPECT_EQ(a.reasoning, "User greets. Answer briefly.");
    EXPECT_EQ(a.content, "Hello! How can I help?");
    EXPECT_TRUE(a.tool_calls.empty());

    const ParsedReply b = parse_reply(
        "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary "
        "to=functions.get_weather <|constrain|>json<|message|>{\"location\":\"Tokyo\"}<|call|>",
        ChatStyle::Harmony);
    EXPECT_EQ(b.reasoning, "Need the weather.");
    EXPECT_EQ(b.content, "");
    ASSERT_EQ(b.tool_calls.size(), 1u);
    EXPECT_EQ(b.tool_calls[0].name, "get_weather");
    EXPECT_EQ(b.tool_calls[0].arguments, ordered_json({{"location", "Tokyo"}}));

    // The recipient before the channel, as the template writes calls; arguments that do not
    // parse are kept as written.
    const ParsedReply c = parse_reply(" to=functions.f<|channel|>commentary json<|message|>{oops<|call|>", ChatStyle::Harmony);
    ASSERT_EQ(c.tool_calls.size(), 1u);
    EXPECT_EQ(c.tool_calls[0].name, "f");
    EXPECT_EQ(c.tool_calls[0].arguments, ordered_json("{oops"));

    // Cut off: the analysis so far is reasoning; a message still in its header is text.
    EXPECT_EQ(parse_reply("<|channel|>analysis<|message|>Thinking ab", ChatStyle::Harmony).reasoning, "Thinking ab");
    EXPECT_EQ(parse_reply("plain text", ChatStyle::Harmony).content, "plain text");
}

}  // namespace
}  // namespace sluice
