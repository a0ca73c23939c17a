#include "server/chat_reply.h"

#include <fmt/format.h>

#include <random>

#include "tokenizer/reply_parser.h"

namespace sluice::server {

nlohmann::json tool_call_json(const ToolCall& c, int index) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    nlohmann::json j = {{"id", fmt::format("call_{:016x}", rng())},
                        {"type", "function"},
                        {"function", {{"name", c.name},
                                      {"arguments", c.arguments.is_string() ? c.arguments.get<std::string>() : c.arguments.dump()}}}};
    if (index >= 0) j["index"] = index;
    return j;
}

nlohmann::json chat_message_json(const std::string& text, bool thinking_open, ChatStyle style, bool tools,
                                 std::string& finish_reason) {
    ParsedReply parsed;
    if (thinking_open && text.find("</think>") == std::string::npos) parsed.reasoning = text;   // cut off while thinking
    else parsed = parse_reply(text, style);
    nlohmann::json message = {{"role", "assistant"}, {"content", parsed.content}};
    if (!parsed.reasoning.empty()) message["reasoning_content"] = parsed.reasoning;
    if (tools && !parsed.tool_calls.empty()) {
        nlohmann::json calls = nlohmann::json::array();
        for (const ToolCall& c : parsed.tool_calls) calls.push_back(tool_call_json(c));
        message["tool_calls"] = calls;
        if (parsed.content.empty()) message["content"] = nullptr;
        finish_reason = "tool_calls";
    } else if (!parsed.tool_calls.empty()) {
        // No tools were offered: the blocks are text the model wrote, left in the answer.
        const size_t end = text.find("</think>");
        std::string answer = end == std::string::npos ? text : text.substr(end + 8);
        const size_t b = answer.find_first_not_of(" \t\n\r");
        message["content"] = b == std::string::npos ? "" : answer.substr(b, answer.find_last_not_of(" \t\n\r") - b + 1);
    }
    return message;
}

}  // namespace sluice::server
