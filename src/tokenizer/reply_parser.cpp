#include "tokenizer/reply_parser.h"

#include <optional>

#include "tokenizer/harmony.h"
#include "tokenizer/py_format.h"

namespace sluice {

namespace {

using nlohmann::ordered_json;

constexpr std::string_view kOpen = "<tool_call>", kClose = "</tool_call>";

std::string_view trim_newlines(std::string_view s) {
    while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
    while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
    return s;
}

std::optional<ToolCall> parse_json_call(std::string_view body) {
    ordered_json j = ordered_json::parse(py_strip(body), nullptr, false);
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return std::nullopt;
    ToolCall c{j["name"].get<std::string>()};
    if (j.contains("arguments")) c.arguments = j["arguments"];
    return c;
}

// A parameter value as the template wrote it: JSON for containers and numbers, Python's
// True/False/None for constants, anything else is a string.
ordered_json parameter_value(std::string_view text) {
    if (text == "True") return true;
    if (text == "False") return false;
    if (text == "None") return nullptr;
    ordered_json j = ordered_json::parse(text, nullptr, false);
    if (!j.is_discarded() && !j.is_string()) return j;
    return std::string(text);
}

std::optional<ToolCall> parse_xml_call(std::string_view body) {
    body = trim_newlines(body);
    constexpr std::string_view kFunc = "<function=", kFuncEnd = "</function>";
    constexpr std::string_view kParam = "<parameter=", kParamEnd = "</parameter>";
    if (body.substr(0, kFunc.size()) != kFunc) return std::nullopt;
    const size_t name_end = body.find('>');
    const size_t func_end = body.rfind(kFuncEnd);
    if (name_end == std::string_view::npos || func_end == std::string_view::npos || func_end < name_end) return std::nullopt;
    ToolCall c{std::string(body.substr(kFunc.size(), name_end - kFunc.size()))};
    std::string_view rest = body.substr(name_end + 1, func_end - name_end - 1);
    for (size_t p = rest.find(kParam); p != std::string_view::npos; p = rest.find(kParam)) {
        const size_t key_end = rest.find('>', p);
        const size_t value_end = rest.find(kParamEnd, p);
        if (key_end == std::string_view::npos || value_end == std::string_view::npos || value_end < key_end) return std::nullopt;
        const std::string key(rest.substr(p + kParam.size(), key_end - p - kParam.size()));
        // The template puts the value on its own lines: one newline each side belongs to it.
        std::string_view value = rest.substr(key_end + 1, value_end - key_end - 1);
        if (!value.empty() && value.front() == '\n') value.remove_prefix(1);
        if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
        c.arguments[key] = parameter_value(value);
        rest.remove_prefix(value_end + kParamEnd.size());
    }
    return c;
}

}  // namespace

ParsedReply parse_reply(std::string_view text, ChatStyle style) {
    if (style == ChatStyle::Harmony) return parse_harmony_reply(text);
    ParsedReply r;
    // The generation prompt may already have opened <think>, so the reply can start inside it.
    if (size_t end = text.find("</think>"); end != std::string_view::npos) {
        std::string_view thought = text.substr(0, end);
        if (size_t open = thought.find("<think>"); open != std::string_view::npos) thought.remove_prefix(open + 7);
        r.reasoning = std::string(trim_newlines(thought));
        text.remove_prefix(end + 8);
    }
    std::string content;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t open = text.find(kOpen, pos);
        const size_t close = open == std::string_view::npos ? open : text.find(kClose, open);
        if (close == std::string_view::npos) break;
        std::string_view body = text.substr(open + kOpen.size(), close - open - kOpen.size());
        auto call = style == ChatStyle::Qwen35 ? parse_xml_call(body) : parse_json_call(body);
        content += text.substr(pos, open - pos);
        if (call) r.tool_calls.push_back(std::move(*call));
        else content += text.substr(open, close + kClose.size() - open);
        pos = close + kClose.size();
    }
    if (pos < text.size()) content += text.substr(pos);
    r.content = std::string(py_strip(content));
    return r;
}

}  // namespace sluice
