// Chat formatting against the Jinja rendering of the models' own templates: the reference
// conversations of fixtures/tokenizer/qwen3 (text and ids), more Qwen3 and Qwen3.5 cases
// (tests/tokenizer/data/chat_cases.json), and parsing replies back into reasoning and tool calls.
#include <gtest/gtest.h>

#include "test_support.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/reply_parser.h"
#include "tokenizer_fixtures.h"
#include "util/error.h"

namespace sluice {
namespace {

using nlohmann::ordered_json;

ordered_json read_json(const std::string& path) { return ordered_json::parse(test::read_file(path)); }

ChatMessage msg(const std::string& role, const std::string& content) {
    ChatMessage m;
    m.role = role;
    m.content = content;
    return m;
}

ChatOptions options_of(const ordered_json& c) {
    ChatOptions o;
    o.add_generation_prompt = c.value("add_generation_prompt", true);
    if (c.contains("enable_thinking")) o.enable_thinking = c["enable_thinking"].get<bool>();
    if (c.contains("tools")) o.tools = c["tools"];
    return o;
}

TEST(ChatTemplate, RendersEveryReferenceConversationAndItsIds) {
    const Tokenizer& t = test::qwen3_tokenizer();
    ChatTemplate tmpl(t.chat_template(), t.source());
    EXPECT_EQ(tmpl.style(), ChatStyle::Qwen3);
    ordered_json ref = read_json(test::fixture("tokenizer/qwen3/reference.json"));
    ASSERT_GE(ref["chat"].size(), 5u);
    for (const ordered_json& c : ref["chat"]) {
        const std::string rendered = tmpl.render(chat_messages_from_json(c["messages"]), options_of(c));
        EXPECT_EQ(rendered, c["rendered"].get<std::string>());
        EXPECT_EQ(t.encode(rendered), c["ids"].get<std::vector<int32_t>>()) << rendered;
    }
}

TEST(ChatTemplate, MatchesJinjaOnMoreQwen3AndQwen35Conversations) {
    ordered_json cases = read_json(test::source_dir() + "/tests/tokenizer/data/chat_cases.json")["cases"];
    ASSERT_GE(cases.size(), 10u);
    for (const ordered_json& c : cases) {
        ChatTemplate tmpl(c["style"] == "qwen35" ? ChatStyle::Qwen35 : ChatStyle::Qwen3);
        EXPECT_EQ(tmpl.render(chat_messages_from_json(c["messages"]), options_of(c)), c["rendered"].get<std::string>())
            << c["name"];
    }
}

// GLM-4.6's and DeepSeek-V3.1's released templates rendered by Jinja in transformers'
// environment (tools/chat_references/render_glm_deepseek.py): system prompts, tools, calls with
// nested arguments, grouped tool responses, thinking on and off, reasoning given apart.
TEST(ChatTemplate, MatchesJinjaOnGlmAndDeepSeekConversations) {
    ordered_json cases = read_json(test::source_dir() + "/tests/tokenizer/data/chat_cases_glm_deepseek.json")["cases"];
    ASSERT_GE(cases.size(), 18u);
    for (const ordered_json& c : cases) {
        ChatTemplate tmpl(c["style"] == "glm45" ? ChatStyle::Glm45 : ChatStyle::DeepSeekV3);
        EXPECT_EQ(tmpl.render(chat_messages_from_json(c["messages"]), options_of(c)), c["rendered"].get<std::string>())
            << c["style"] << ": " << c["name"];
    }
}

TEST(ChatTemplate, RecognisesGlmAndDeepSeekTemplates) {
    EXPECT_EQ(ChatTemplate("[gMASK]<sop>{%- if tools -%}<|system|>", "m").style(), ChatStyle::Glm45);
    EXPECT_EQ(ChatTemplate("{{ bos_token }}{{'<｜User｜>' + message['content']}}{{'<｜Assistant｜>'}}", "m").style(),
              ChatStyle::DeepSeekV3);
}

TEST(ReplyParser, GlmAndDeepSeekToolCalls) {
    auto glm = parse_reply("<think>Look it up.</think>\nChecking.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n"
                           "<arg_value>Oslo</arg_value>\n<arg_key>days</arg_key>\n<arg_value>[1, 2]</arg_value>\n</tool_call>",
                           ChatStyle::Glm45);
    EXPECT_EQ(glm.reasoning, "Look it up.");
    EXPECT_EQ(glm.content, "Checking.");
    ASSERT_EQ(glm.tool_calls.size(), 1u);
    EXPECT_EQ(glm.tool_calls[0].name, "get_weather");
    EXPECT_EQ(glm.tool_calls[0].arguments, ordered_json::parse(R"({"city": "Oslo", "days": [1, 2]})"));

    auto ds = parse_reply("Checking both.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": "
                          "\"Oslo\"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<｜tool▁call▁end｜>"
                          "<｜tool▁calls▁end｜>",
                          ChatStyle::DeepSeekV3);
    EXPECT_EQ(ds.content, "Checking both.");
    ASSERT_EQ(ds.tool_calls.size(), 2u);
    EXPECT_EQ(ds.tool_calls[0].name, "get_weather");
    EXPECT_EQ(ds.tool_calls[0].arguments, ordered_json::parse(R"({"city": "Oslo"})"));
    EXPECT_EQ(ds.tool_calls[1].name, "get_time");
    // A call cut off before its end token stays text.
    EXPECT_EQ(parse_reply("<｜tool▁call▁begin｜>f<｜tool▁sep｜>{", ChatStyle::DeepSeekV3).tool_calls.size(), 0u);
}

TEST(ChatTemplate, RecognisesTheTemplateItImplements) {
    EXPECT_EQ(ChatTemplate("{{ '<|im_start|>' }}{{- '<tool_call>\\n<function=' + name }}", "m").style(), ChatStyle::Qwen35);
    EXPECT_EQ(ChatTemplate(test::tiny_tokenizer().chat_template(), "tiny").style(), ChatStyle::Qwen3);
    for (const char* bad : {"", "{{ bos_token }}[INST]"}) {
        try {
            ChatTemplate t(bad, "model.gguf");
            ADD_FAILURE() << "accepted: " << bad;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("model.gguf"), std::string::npos) << e.what();
        }
    }
}

TEST(ChatTemplate, Qwen35RefusesWhatItsTemplateRaisesOn) {
    ChatTemplate t(ChatStyle::Qwen35);
    EXPECT_THROW(t.render({}, {}), Error);
    EXPECT_THROW(t.render({msg("user", "a"), msg("system", "late")}, {}), Error);
    EXPECT_THROW(t.render({msg("assistant", "only")}, {}), Error);
}

TEST(ReplyParser, Qwen3ThinkingAnswerAndJsonToolCalls) {
    auto r = parse_reply(
        "<think>\nLet me look.\n</think>\n\nChecking both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
        "{\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
        ChatStyle::Qwen3);
    EXPECT_EQ(r.reasoning, "Let me look.");
    EXPECT_EQ(r.content, "Checking both.");
    ASSERT_EQ(r.tool_calls.size(), 2u);
    EXPECT_EQ(r.tool_calls[0].name, "get_weather");
    EXPECT_EQ(r.tool_calls[0].arguments, ordered_json({{"city", "Paris"}}));
    EXPECT_EQ(r.tool_calls[1].name, "get_time");
}

TEST(ReplyParser, MalformedOrUnfinishedCallsStayText) {
    auto r = parse_reply("a <tool_call>\n{not json}\n</tool_call> b <tool_call>\n{\"name\": \"f\"", ChatStyle::Qwen3);
    EXPECT_TRUE(r.tool_calls.empty());
    EXPECT_EQ(r.content, "a <tool_call>\n{not json}\n</tool_call> b <tool_call>\n{\"name\": \"f\"");
    EXPECT_EQ(parse_reply("plain answer", ChatStyle::Qwen3).content, "plain answer");
}

TEST(ReplyParser, Qwen35XmlToolCallsWithTypedValues) {
    // The generation prompt opened <think>, so the reply starts inside it.
    auto r = parse_reply(
        "weigh options\n</think>\n\nI'll check.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n"
        "</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=verbose>\nTrue\n</parameter>\n<parameter=opts>\n"
        "{\"a\": [1, 2]}\n</parameter>\n<parameter=note>\nline 1\nline 2\n</parameter>\n</function>\n</tool_call>",
        ChatStyle::Qwen35);
    EXPECT_EQ(r.reasoning, "weigh options");
    EXPECT_EQ(r.content, "I'll check.");
    ASSERT_EQ(r.tool_calls.size(), 1u);
    EXPECT_EQ(r.tool_calls[0].name, "get_weather");
    EXPECT_EQ(r.tool_calls[0].arguments,
              ordered_json::parse(R"({"city": "New York", "days": 3, "verbose": true, "opts": {"a": [1, 2]},
                                       "note": "line 1\nline 2"})"));
}

TEST(ReplyParser, RenderedCallsParseBackToTheSameCalls) {
    struct Turn {
        ChatStyle style;
        std::string header, end;   // what opens the assistant's reply and what ends it
    };
    const Turn turns[] = {{ChatStyle::Qwen3, "<|im_start|>assistant\n", "<|im_end|>"},
                          {ChatStyle::Qwen35, "<|im_start|>assistant\n", "<|im_end|>"},
                          {ChatStyle::Glm45, "<|assistant|>", "<|user|>"},
                          {ChatStyle::DeepSeekV3, "<｜Assistant｜>", "<｜end▁of▁sentence｜>"}};
    for (const auto& [style, header, end] : turns) {
        ChatMessage m = msg("assistant", "Sure.");
        m.tool_calls = {{"f", ordered_json::parse(R"({"x": 1.5, "s": "two words", "flag": false})")}, {"g", {{"k", "v"}}}};
        ChatOptions o;
        o.add_generation_prompt = false;
        std::string text = ChatTemplate(style).render({msg("user", "go"), m}, o);
        // The reply is what follows the assistant header, up to the end-of-turn marker.
        text = text.substr(text.rfind(header) + header.size());
        text = text.substr(0, text.find(end));
        auto r = parse_reply(text, style);
        EXPECT_EQ(r.content, "Sure.");
        ASSERT_EQ(r.tool_calls.size(), 2u);
        EXPECT_EQ(r.tool_calls[0].arguments, m.tool_calls[0].arguments);
        EXPECT_EQ(r.tool_calls[1].name, "g");
        EXPECT_EQ(r.tool_calls[1].arguments, m.tool_calls[1].arguments);
    }
}

}  // namespace
}  // namespace sluice
