// The chat template renderer and the tool-call parser: the input is a request's JSON
// {"messages": [...], "tools": [...]} (first byte: template style in bits 0 and 5, bit 4 gpt-oss's
// harmony, generation prompt in bit 1, thinking switch in bits 2-3); the
// rendered prompt and the raw input are both parsed as a model's reply.
#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"
#include "tokenizer/reply_parser.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    if (size == 0) return 0;
    const ChatStyle styles[] = {ChatStyle::Qwen3, ChatStyle::Qwen35, ChatStyle::Glm45, ChatStyle::DeepSeekV3};
    const ChatStyle style = data[0] & 16 ? ChatStyle::Harmony : styles[(data[0] & 1) | (data[0] >> 4 & 2)];
    const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    parse_reply(rest, style);
    auto request = nlohmann::ordered_json::parse(rest, nullptr, false);
    if (request.is_discarded() || !request.is_object()) return 0;
    try {
        ChatOptions options;
        options.add_generation_prompt = data[0] & 2;
        if (data[0] & 4) options.enable_thinking = bool(data[0] & 8);
        if (request.contains("tools")) options.tools = request["tools"];
        options.current_date = "2025-08-05";   // runs repeat whatever the day
        auto messages = chat_messages_from_json(request.value("messages", nlohmann::ordered_json()));
        std::string prompt = ChatTemplate(style).render(messages, options);
        parse_reply(prompt, style);
    } catch (const Error&) {
    }
    return 0;
}
