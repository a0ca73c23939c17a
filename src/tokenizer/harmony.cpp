#include "tokenizer/harmony.h"

#include <ctime>
#include <optional>

#include "tokenizer/py_format.h"
#include "util/error.h"

namespace sluice {

namespace {

using nlohmann::ordered_json;

// Jinja truthiness of a schema field: present, and not false, null, 0 or empty.
bool truthy(const ordered_json& spec, const char* key) {
    if (!spec.is_object() || !spec.contains(key)) return false;
    const ordered_json& v = spec[key];
    if (v.is_null()) return false;
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number()) return v.get<double>() != 0;
    if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
    return true;
}

bool type_is(const ordered_json& spec, const char* type) {
    return spec.is_object() && spec.contains("type") && spec["type"].is_string() && spec["type"] == type;
}

bool contains_string(const ordered_json& list, const std::string& s) {
    if (!list.is_array()) return false;
    for (const auto& v : list)
        if (v.is_string() && v == s) return true;
    return false;
}

const ordered_json& required_of(const ordered_json& spec) {
    static const ordered_json none = ordered_json::array();
    return truthy(spec, "required") ? spec["required"] : none;
}

// The template's render_typescript_type macro as Jinja runs it, whitespace included (its nested
// objects put a newline and 16 spaces before each property's type, and oneOf a newline after
// each " | ").
std::string typescript_type(const ordered_json& spec) {
    const bool nullable = truthy(spec, "nullable");
    if (type_is(spec, "array")) {
        std::string t;
        if (truthy(spec, "items")) {
            const ordered_json& items = spec["items"];
            if (type_is(items, "string")) t = "string[]";
            else if (type_is(items, "number") || type_is(items, "integer")) t = "number[]";
            else if (type_is(items, "boolean")) t = "boolean[]";
            else {
                const std::string inner = typescript_type(items);
                t = inner == "object | object" || inner.size() > 50 ? "any[]" : inner + "[]";
            }
        } else {
            t = "any[]";
        }
        return nullable ? t + " | null" : t;
    }
    if (spec.is_object() && spec.contains("type") && spec["type"].is_array() && !spec["type"].empty()) {
        std::string t;
        for (size_t i = 0; i < spec["type"].size(); ++i) t += (i ? " | " : "") + py_str(spec["type"][i]);
        return t;
    }
    if (truthy(spec, "oneOf")) {
        // The template means to write "any" for unions with an object variant, but its flag is
        // set inside a for loop, where Jinja scopes it to the loop: every union is written out.
        const ordered_json& variants = spec["oneOf"];
        std::string t;
        for (size_t i = 0; i < variants.size(); ++i) {
            const ordered_json& v = variants[i];
            t += typescript_type(v);
            if (truthy(v, "description")) t += "// " + py_str(v["description"]);
            if (v.is_object() && v.contains("default")) t += "                    // default: " + py_tojson(v["default"]);
            if (i + 1 < variants.size()) t += " | \n";
        }
        return t;
    }
    if (type_is(spec, "string")) {
        if (truthy(spec, "enum")) {
            std::string t = "\"";
            for (size_t i = 0; i < spec["enum"].size(); ++i) t += (i ? "\" | \"" : "") + py_str(spec["enum"][i]);
            return t + "\"";
        }
        return nullable ? "string | null" : "string";
    }
    if (type_is(spec, "number") || type_is(spec, "integer")) return "number";
    if (type_is(spec, "boolean")) return "boolean";
    if (type_is(spec, "object")) {
        if (!truthy(spec, "properties")) return "object";
        std::string t = "{\n";
        const ordered_json& required = required_of(spec);
        size_t i = 0;
        for (const auto& [name, prop] : spec["properties"].items()) {
            t += name;
            if (!contains_string(required, name)) t += "?";
            t += ": \n                " + typescript_type(prop);
            if (++i < spec["properties"].size()) t += ", ";
        }
        return t + "}";
    }
    return "any";
}

std::string text_field(const ordered_json& o, const char* key, const std::string& what) {
    if (!o.is_object() || !o.contains(key) || !o[key].is_string()) fail("chat template: {} has no \"{}\"", what, key);
    return o[key].get<std::string>();
}

// The template's render_tool_namespace("functions", tools).
std::string functions_namespace(const ordered_json& tools) {
    std::string out = "## functions\n\nnamespace functions {\n\n";
    for (const ordered_json& entry : tools) {
        const ordered_json& tool = entry.is_object() && entry.contains("function") ? entry["function"] : entry;
        const std::string name = text_field(tool, "name", "a tool");
        out += "// " + text_field(tool, "description", "tool " + name) + "\n";
        out += "type " + name + " = ";
        const ordered_json params = tool.is_object() && tool.contains("parameters") ? tool["parameters"] : ordered_json();
        if (!truthy(params, "properties")) {
            out += "() => any;\n\n";
            continue;
        }
        out += "(_: {\n";
        const ordered_json& required = required_of(params);
        for (const auto& [param, spec] : params["properties"].items()) {
            if (truthy(spec, "description")) out += "// " + py_str(spec["description"]) + "\n";
            out += param;
            if (!contains_string(required, param)) out += "?";
            out += ": " + typescript_type(spec);
            if (spec.is_object() && spec.contains("default")) {
                if (truthy(spec, "enum")) out += ", // default: " + py_str(spec["default"]);
                else if (truthy(spec, "oneOf")) out += "// default: " + py_str(spec["default"]);
                else out += ", // default: " + py_tojson(spec["default"]);
            }
            out += ",\n";
        }
        out += "}) => any;\n\n";
    }
    return out + "} // namespace functions";
}

std::string today() {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &local);
    return buf;
}

bool has_channel_tags(const std::string& s) {
    return s.find("<|channel|>analysis<|message|>") != std::string::npos ||
           s.find("<|channel|>final<|message|>") != std::string::npos;
}

}  // namespace

std::string render_harmony(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
    if (messages.empty()) fail("chat template: no messages provided");
    const bool tools = !options.tools.empty();
    std::string out = "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
                      "Knowledge cutoff: 2024-06\nCurrent date: ";
    out += (options.current_date.empty() ? today() : options.current_date) + "\n\n";
    out += "Reasoning: " + (options.reasoning_effort.empty() ? std::string("medium") : options.reasoning_effort) + "\n\n";
    out += "# Valid channels: analysis, commentary, final. Channel must be included for every message.";
    if (tools) out += "\nCalls to these tools must go to the commentary channel: 'functions'.";
    out += "<|end|>";

    const bool instructions = messages[0].role == "developer" || messages[0].role == "system";
    const std::string developer = instructions ? messages[0].content : "";
    if (!developer.empty() || tools) {
        out += "<|start|>developer<|message|>";
        if (!developer.empty()) out += "# Instructions\n\n" + developer + "\n\n";
        if (tools) out += "# Tools\n\n" + functions_namespace(options.tools);
        out += "<|end|>";
    }

    std::optional<std::string> last_call;   // the tool a following tool message answers
    for (size_t i = instructions ? 1 : 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        const bool last = i + 1 == messages.size();
        if (m.role == "assistant") {
            const std::string thinking = m.reasoning_content.value_or("");
            if (has_channel_tags(m.content))
                fail("chat template: an assistant message has <|channel|> tags in its content; pass the analysis as "
                     "`thinking` and the answer as `content`");
            if (has_channel_tags(thinking))
                fail("chat template: an assistant message has <|channel|> tags in its thinking; pass the analysis as "
                     "`thinking` and the answer as `content`");
            if (!m.tool_calls.empty()) {
                // The call's reasoning is kept only while no later answer (an assistant message
                // without calls) exists.
                bool answered = false;
                for (size_t j = i + 1; j < messages.size(); ++j)
                    answered |= messages[j].role == "assistant" && messages[j].tool_calls.empty();
                const ToolCall& call = m.tool_calls[0];   // the template renders one call per message
                if (!m.content.empty() && !thinking.empty())
                    fail("chat template: an assistant message with tool calls has both content and thinking");
                const std::string& analysis = !m.content.empty() ? m.content : thinking;
                if (!analysis.empty() && !answered) out += "<|start|>assistant<|channel|>analysis<|message|>" + analysis + "<|end|>";
                out += "<|start|>assistant to=functions." + call.name + "<|channel|>commentary json<|message|>" +
                       py_tojson(call.arguments) + "<|call|>";
                last_call = call.name;
            } else if (last && !options.add_generation_prompt) {
                // A training render: the last turn keeps its analysis and ends with <|return|>.
                if (m.reasoning_content) out += "<|start|>assistant<|channel|>analysis<|message|>" + thinking + "<|end|>";
                out += "<|start|>assistant<|channel|>final<|message|>" + m.content + "<|return|>";
            } else {
                out += "<|start|>assistant<|channel|>final<|message|>" + m.content + "<|end|>";
                last_call.reset();
            }
        } else if (m.role == "tool") {
            if (!last_call) fail("chat template: a tool message has no assistant tool call before it");
            out += "<|start|>functions." + *last_call + " to=assistant<|channel|>commentary<|message|>" + py_tojson(m.content) +
                   "<|end|>";
        } else if (m.role == "user") {
            out += "<|start|>user<|message|>" + m.content + "<|end|>";
        }
    }
    if (options.add_generation_prompt) out += "<|start|>assistant";
    return out;
}

ParsedReply parse_harmony_reply(std::string_view text) {
    constexpr std::string_view kStart = "<|start|>", kMessage = "<|message|>", kChannel = "<|channel|>";
    ParsedReply r;
    while (!text.empty()) {
        // One message: up to the next <|start|> (the first follows the prompt's own).
        size_t next = text.find(kStart);
        std::string_view msg = text.substr(0, next);
        text = next == std::string_view::npos ? std::string_view() : text.substr(next + kStart.size());
        const size_t body_at = msg.find(kMessage);
        if (body_at == std::string_view::npos) {   // cut off in its header, or stray text
            r.content += msg;
            continue;
        }
        const std::string_view header = msg.substr(0, body_at);
        std::string_view body = msg.substr(body_at + kMessage.size());
        for (std::string_view end : {"<|end|>", "<|return|>", "<|call|>"})
            if (size_t e = body.find(end); e != std::string_view::npos) body = body.substr(0, e);
        std::string channel, recipient;
        if (size_t c = header.find(kChannel); c != std::string_view::npos) {
            std::string_view rest = header.substr(c + kChannel.size());
            channel = rest.substr(0, rest.find_first_of(" <"));
        }
        if (size_t to = header.find("to="); to != std::string_view::npos) {
            std::string_view rest = header.substr(to + 3);
            recipient = rest.substr(0, rest.find_first_of(" <"));
        }
        if (recipient.rfind("functions.", 0) == 0) {
            ToolCall call{recipient.substr(10)};
            ordered_json args = ordered_json::parse(body, nullptr, false);
            call.arguments = args.is_discarded() ? ordered_json(std::string(body)) : args;
            r.tool_calls.push_back(std::move(call));
        } else if (channel == "analysis") {
            r.reasoning += body;
        } else {
            r.content += body;
        }
    }
    return r;
}

}  // namespace sluice
