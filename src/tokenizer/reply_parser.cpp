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

// GLM-4.5: NAME\n then <arg_key>K</arg_key>\n<arg_value>V</arg_value>\n pairs; values as the
// template writes them (strings bare, anything else as JSON).
std::optional<ToolCall> parse_glm_call(std::string_view body) {
    constexpr std::string_view kKey = "<arg_key>", kKeyEnd = "</arg_key>", kValue = "<arg_value>",
                               kValueEnd = "</arg_value>";
    const size_t name_end = body.find('\n');
    ToolCall c{std::string(py_strip(body.substr(0, name_end)))};
    if (c.name.empty()) return std::nullopt;
    std::string_view rest = name_end == std::string_view::npos ? std::string_view() : body.substr(name_end + 1);
    for (size_t k = rest.find(kKey); k != std::string_view::npos; k = rest.find(kKey)) {
        const size_t key_end = rest.find(kKeyEnd, k), v = rest.find(kValue, k), v_end = rest.find(kValueEnd, k);
        if (key_end == std::string_view::npos || v == std::string_view::npos || v_end == std::string_view::npos ||
            !(key_end < v && v < v_end))
            return std::nullopt;
        const std::string key(rest.substr(k + kKey.size(), key_end - k - kKey.size()));
        const std::string_view value = rest.substr(v + kValue.size(), v_end - v - kValue.size());
        ordered_json j = ordered_json::parse(value, nullptr, false);
        c.arguments[key] = !j.is_discarded() && !j.is_string() ? j : ordered_json(std::string(value));
        rest.remove_prefix(v_end + kValueEnd.size());
    }
    return c;
}

// DeepSeek-V3.1: NAME<｜tool▁sep｜>JSON arguments.
std::optional<ToolCall> parse_deepseek_call(std::string_view body) {
    constexpr std::string_view kSep = "<｜tool▁sep｜>";
    const size_t sep = body.find(kSep);
    if (sep == std::string_view::npos || sep == 0) return std::nullopt;
    ordered_json args = ordered_json::parse(body.substr(sep + kSep.size()), nullptr, false);
    if (args.is_discarded()) return std::nullopt;
    ToolCall c{std::string(body.substr(0, sep))};
    c.arguments = args;
    return c;
}

// Removes every `token` from s (DeepSeek's wrappers around its list of calls).
std::string without(std::string s, std::string_view token) {
    for (size_t p = s.find(token); p != std::string::npos; p = s.find(token, p)) s.erase(p, token.size());
    return s;
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
    const bool deepseek = style == ChatStyle::DeepSeekV3;
    const std::string_view k_open = deepseek ? "<｜tool▁call▁begin｜>" : kOpen;
    const std::string_view k_close = deepseek ? "<｜tool▁call▁end｜>" : kClose;
    std::string content;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t open = text.find(k_open, pos);
        const size_t close = open == std::string_view::npos ? open : text.find(k_close, open);
        if (close == std::string_view::npos) break;
        std::string_view body = text.substr(open + k_open.size(), close - open - k_open.size());
        auto call = style == ChatStyle::Qwen35 ? parse_xml_call(body)
                    : style == ChatStyle::Glm45 ? parse_glm_call(body)
                    : deepseek                  ? parse_deepseek_call(body)
                                                : parse_json_call(body);
        content += text.substr(pos, open - pos);
        if (call) r.tool_calls.push_back(std::move(*call));
        else content += text.substr(open, close + k_close.size() - open);
        pos = close + k_close.size();
    }
    if (pos < text.size()) content += text.substr(pos);
    if (deepseek) content = without(without(std::move(content), "<｜tool▁calls▁begin｜>"), "<｜tool▁calls▁end｜>");
    r.content = std::string(py_strip(content));
    return r;
}

}  // namespace sluice
