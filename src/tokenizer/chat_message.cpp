#include "tokenizer/chat_message.h"

#include "util/error.h"

namespace sluice {

namespace {

using nlohmann::ordered_json;

std::string content_text(const ordered_json& c, size_t index) {
    if (c.is_null()) return {};
    if (c.is_string()) return c.get<std::string>();
    if (c.is_array()) {
        std::string text;
        for (const ordered_json& part : c) {
            if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") || !part["text"].is_string())
                fail("messages[{}].content: only text parts are supported, not {}", index, part.dump());
            text += part["text"].get<std::string>();
        }
        return text;
    }
    fail("messages[{}].content is neither a string nor a list of parts", index);
}

}  // namespace

std::vector<ChatMessage> chat_messages_from_json(const ordered_json& messages) {
    if (!messages.is_array()) fail("messages is not a list");
    std::vector<ChatMessage> out;
    for (size_t i = 0; i < messages.size(); ++i) {
        const ordered_json& m = messages[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) fail("messages[{}] has no \"role\"", i);
        ChatMessage msg;
        msg.role = m["role"].get<std::string>();
        if (m.contains("content")) msg.content = content_text(m["content"], i);
        for (const char* key : {"reasoning_content", "thinking"})   // Qwen's name, gpt-oss's
            if (m.contains(key) && m[key].is_string()) msg.reasoning_content = m[key].get<std::string>();
        if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
            if (!m["tool_calls"].is_array()) fail("messages[{}].tool_calls is not a list", i);
            for (const ordered_json& tc : m["tool_calls"]) {
                // Templates take tool_call.function when there is one, else the call itself.
                const ordered_json& f = tc.contains("function") ? tc["function"] : tc;
                if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
                    fail("messages[{}].tool_calls: a call has no function name", i);
                ToolCall call{f["name"].get<std::string>()};
                if (f.contains("arguments")) call.arguments = f["arguments"];
                msg.tool_calls.push_back(std::move(call));
            }
        }
        out.push_back(std::move(msg));
    }
    return out;
}

}  // namespace sluice
