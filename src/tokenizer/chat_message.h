// A conversation as chat templates see it (the OpenAI / Hugging Face message shape).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

struct ToolCall {
    std::string name;
    // A JSON object, or a string holding the arguments as the client wrote them (OpenAI's
    // wire format), which templates print as they are.
    nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
};

struct ChatMessage {
    std::string role;  // "system", "user", "assistant" or "tool"
    std::string content;
    std::optional<std::string> reasoning_content;  // an assistant's thinking, when given apart (gpt-oss: `thinking`)
    std::vector<ToolCall> tool_calls;
};

struct ChatOptions {
    bool add_generation_prompt = true;
    std::optional<bool> enable_thinking;  // unset: the template's default
    nlohmann::ordered_json tools = nlohmann::ordered_json::array();  // function schemas
    // gpt-oss's harmony format: "low", "medium" (empty: the template's default) or "high", and
    // the date its system message states (YYYY-MM-DD; empty: today, as strftime_now gives).
    std::string reasoning_effort;
    std::string current_date;
};

// Messages from JSON: [{"role", "content" (string, null, or [{"type": "text", "text"}]),
// "reasoning_content" or "thinking", "tool_calls": [{"function": {"name", "arguments"}}]}]. Throws naming
// the message and field that is malformed.
std::vector<ChatMessage> chat_messages_from_json(const nlohmann::ordered_json& messages);

}  // namespace sluice
