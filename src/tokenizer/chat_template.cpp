#include "tokenizer/chat_template.h"

#include <initializer_list>

#include "tokenizer/harmony.h"
#include "tokenizer/py_format.h"
#include "util/error.h"

namespace sluice {

namespace {

using nlohmann::ordered_json;

constexpr const char* kQwen3ToolsHead =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
constexpr const char* kQwen3ToolsTail =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call><|im_end|>\n";
constexpr const char* kQwen35ToolsHead = "# Tools\n\nYou have access to the following functions:\n\n<tools>";
constexpr const char* kQwen35ToolsTail =
    "\n</tools>\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
    "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n"
    "<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple "
    "lines\n</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\nReminder:\n- Function calls MUST follow the "
    "specified format: an inner <function=...></function> block must be nested within <tool_call></tool_call> "
    "XML tags\n- Required parameters MUST be specified\n- You may provide optional reasoning for your function "
    "call in natural language BEFORE the function call, but NOT after\n- If there is no function call available, "
    "answer the question like normal with your current knowledge and do not tell the user about function "
    "calls\n</IMPORTANT>";

// Appends the parts in order (one call per template output line keeps the code close to it).
void add(std::string& out, std::initializer_list<std::string_view> parts) {
    for (std::string_view p : parts) out += p;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) { return s.size() >= p.size() && s.substr(s.size() - p.size()) == p; }

std::string lstrip_newlines(std::string_view s) { return std::string(s.substr(std::min(s.find_first_not_of('\n'), s.size()))); }
std::string rstrip_newlines(std::string_view s) {
    const size_t last = s.find_last_not_of('\n');
    return std::string(last == std::string_view::npos ? std::string_view() : s.substr(0, last + 1));
}
std::string strip_newlines(std::string_view s) { return rstrip_newlines(lstrip_newlines(s)); }

// Python's s.split(sep)[0] and s.split(sep)[-1].
std::string_view before_first(std::string_view s, std::string_view sep) { return s.substr(0, s.find(sep)); }
std::string_view after_last(std::string_view s, std::string_view sep) {
    const size_t p = s.rfind(sep);
    return p == std::string_view::npos ? s : s.substr(p + sep.size());
}

bool is_tool_response(std::string_view content) {
    return starts_with(content, "<tool_response>") && ends_with(content, "</tool_response>");
}

// Reasoning and answer of an assistant message whose content may still carry its thinking:
// the part before </think> (after <think>) and the part after it.
void split_thinking(std::string& content, std::string& reasoning) {
    if (content.find("</think>") == std::string::npos) return;
    reasoning = lstrip_newlines(after_last(rstrip_newlines(before_first(content, "</think>")), "<think>"));
    content = lstrip_newlines(after_last(content, "</think>"));
}

// Index of the last user message that is a real query (not a wrapped tool response); -1 if none.
template <typename ContentOf>
long last_query_index(const std::vector<ChatMessage>& messages, ContentOf content_of) {
    for (size_t k = messages.size(); k-- > 0;)
        if (messages[k].role == "user" && !is_tool_response(content_of(messages[k]))) return long(k);
    return -1;
}

std::string render_qwen3(const std::vector<ChatMessage>& msgs, const ChatOptions& opt) {
    std::string out;
    const bool system_first = !msgs.empty() && msgs[0].role == "system";
    if (!opt.tools.empty()) {
        out += "<|im_start|>system\n";
        if (system_first) add(out, {msgs[0].content, "\n\n"});
        out += kQwen3ToolsHead;
        for (const ordered_json& tool : opt.tools) add(out, {"\n", py_tojson(tool)});
        out += kQwen3ToolsTail;
    } else if (system_first) {
        add(out, {"<|im_start|>system\n", msgs[0].content, "<|im_end|>\n"});
    }
    // With no real query the template keeps its initial value, the last index.
    long lqi = last_query_index(msgs, [](const ChatMessage& m) -> std::string_view { return m.content; });
    if (lqi < 0) lqi = long(msgs.size()) - 1;

    for (size_t i = 0; i < msgs.size(); ++i) {
        const ChatMessage& m = msgs[i];
        const bool last = i + 1 == msgs.size();
        if (m.role == "user" || (m.role == "system" && i != 0)) {
            add(out, {"<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n"});
        } else if (m.role == "assistant") {
            std::string content = m.content, reasoning;
            if (m.reasoning_content) reasoning = *m.reasoning_content;
            else split_thinking(content, reasoning);
            // Thinking is shown only for turns after the last query (the current answer and
            // its tool-call steps); earlier turns keep only their answers.
            if (long(i) > lqi && (last || !reasoning.empty()))
                add(out, {"<|im_start|>assistant\n<think>\n", strip_newlines(reasoning), "\n</think>\n\n", lstrip_newlines(content)});
            else
                add(out, {"<|im_start|>assistant\n", content});
            for (size_t j = 0; j < m.tool_calls.size(); ++j) {
                const ToolCall& c = m.tool_calls[j];
                if (j > 0 || !content.empty()) out += "\n";
                add(out, {"<tool_call>\n{\"name\": \"", c.name, "\", \"arguments\": "});
                out += c.arguments.is_string() ? c.arguments.get<std::string>() : py_tojson(c.arguments);
                out += "}\n</tool_call>";
            }
            out += "<|im_end|>\n";
        } else if (m.role == "tool") {
            if (i == 0 || msgs[i - 1].role != "tool") out += "<|im_start|>user";
            add(out, {"\n<tool_response>\n", m.content, "\n</tool_response>"});
            if (last || msgs[i + 1].role != "tool") out += "<|im_end|>\n";
        }
    }
    if (opt.add_generation_prompt) {
        out += "<|im_start|>assistant\n";
        if (opt.enable_thinking == false) out += "<think>\n\n</think>\n\n";
    }
    return out;
}

// Arguments of a Qwen3.5 tool call as an object: the template iterates its items.
ordered_json argument_object(const ToolCall& c) {
    if (c.arguments.is_object()) return c.arguments;
    if (c.arguments.is_string()) {
        ordered_json parsed = ordered_json::parse(c.arguments.get<std::string>(), nullptr, false);
        if (parsed.is_object()) return parsed;
    }
    fail("tool call \"{}\": arguments are not a JSON object", c.name);
}

std::string render_qwen35(const std::vector<ChatMessage>& msgs, const ChatOptions& opt) {
    if (msgs.empty()) fail("chat template: no messages provided");
    std::string out;
    const bool system_first = msgs[0].role == "system";
    if (!opt.tools.empty()) {
        out += "<|im_start|>system\n";
        out += kQwen35ToolsHead;
        for (const ordered_json& tool : opt.tools) add(out, {"\n", py_tojson(tool)});
        out += kQwen35ToolsTail;
        if (std::string_view sys = py_strip(msgs[0].content); system_first && !sys.empty()) add(out, {"\n\n", sys});
        out += "<|im_end|>\n";
    } else if (system_first) {
        add(out, {"<|im_start|>system\n", py_strip(msgs[0].content), "<|im_end|>\n"});
    }
    const long lqi = last_query_index(msgs, [](const ChatMessage& m) { return py_strip(m.content); });
    if (lqi < 0) fail("chat template: no user query found in messages");

    for (size_t i = 0; i < msgs.size(); ++i) {
        const ChatMessage& m = msgs[i];
        std::string content(py_strip(m.content));
        if (m.role == "system") {
            if (i != 0) fail("chat template: a system message must be at the beginning");
        } else if (m.role == "user") {
            add(out, {"<|im_start|>user\n", content, "<|im_end|>\n"});
        } else if (m.role == "assistant") {
            std::string reasoning;
            if (m.reasoning_content) reasoning = *m.reasoning_content;
            else split_thinking(content, reasoning);
            reasoning = std::string(py_strip(reasoning));
            if (long(i) > lqi) add(out, {"<|im_start|>assistant\n<think>\n", reasoning, "\n</think>\n\n", content});
            else add(out, {"<|im_start|>assistant\n", content});
            for (size_t j = 0; j < m.tool_calls.size(); ++j) {
                const ToolCall& c = m.tool_calls[j];
                if (j > 0) out += "\n";
                else if (!py_strip(content).empty()) out += "\n\n";
                add(out, {"<tool_call>\n<function=", c.name, ">\n"});
                const ordered_json args = argument_object(c);
                for (const auto& [name, value] : args.items()) {
                    add(out, {"<parameter=", name, ">\n"});
                    out += value.is_object() || value.is_array() ? py_tojson(value) : py_str(value);
                    out += "\n</parameter>\n";
                }
                out += "</function>\n</tool_call>";
            }
            out += "<|im_end|>\n";
        } else if (m.role == "tool") {
            if (i > 0 && msgs[i - 1].role != "tool") out += "<|im_start|>user";
            add(out, {"\n<tool_response>\n", content, "\n</tool_response>"});
            if (i + 1 == msgs.size() || msgs[i + 1].role != "tool") out += "<|im_end|>\n";
        } else {
            fail("chat template: unexpected message role \"{}\"", m.role);
        }
    }
    if (opt.add_generation_prompt) {
        out += "<|im_start|>assistant\n";
        out += opt.enable_thinking == false ? "<think>\n\n</think>\n\n" : "<think>\n";
    }
    return out;
}

// GLM-4.6's tools block (the same in GLM-4.5's): the schemas, then the call format.
constexpr const char* kGlmToolsHead =
    "<|system|>\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n";
constexpr const char* kGlmToolsTail =
    "</tools>\n\nFor each function call, output the function name and arguments within the following XML "
    "format:\n<tool_call>{function-name}\n<arg_key>{arg-key-1}</arg_key>\n<arg_value>{arg-value-1}</arg_value>\n"
    "<arg_key>{arg-key-2}</arg_key>\n<arg_value>{arg-value-2}</arg_value>\n...\n</tool_call>";

std::string render_glm45(const std::vector<ChatMessage>& msgs, const ChatOptions& opt) {
    std::string out = "[gMASK]<sop>";
    if (!opt.tools.empty()) {
        out += kGlmToolsHead;
        for (const ordered_json& tool : opt.tools) add(out, {py_tojson(tool), "\n"});
        out += kGlmToolsTail;
    }
    long last_user = -1;
    for (size_t i = 0; i < msgs.size(); ++i)
        if (msgs[i].role == "user") last_user = long(i);
    const bool no_think = opt.enable_thinking == false;
    for (size_t i = 0; i < msgs.size(); ++i) {
        const ChatMessage& m = msgs[i];
        if (m.role == "user") {
            add(out, {"<|user|>\n", m.content});
            if (no_think && !ends_with(m.content, "/nothink")) out += "/nothink";
        } else if (m.role == "assistant") {
            out += "<|assistant|>";
            std::string content = m.content, reasoning;
            if (m.reasoning_content) {
                reasoning = *m.reasoning_content;
            } else if (content.find("</think>") != std::string::npos) {
                reasoning = lstrip_newlines(after_last(rstrip_newlines(before_first(content, "</think>")), "<think>"));
                content = lstrip_newlines(after_last(content, "</think>"));
            }
            if (long(i) > last_user && !reasoning.empty()) add(out, {"\n<think>", py_strip(reasoning), "</think>"});
            else out += "\n<think></think>";
            if (std::string_view answer = py_strip(content); !answer.empty()) add(out, {"\n", answer});
            for (const ToolCall& c : m.tool_calls) {
                add(out, {"\n<tool_call>", c.name, "\n"});
                const ordered_json args = argument_object(c);
                for (const auto& [key, value] : args.items())
                    add(out, {"<arg_key>", key, "</arg_key>\n<arg_value>",
                              value.is_string() ? value.get<std::string>() : py_tojson(value), "</arg_value>\n"});
                out += "</tool_call>";
            }
        } else if (m.role == "tool") {
            if (i == 0 || msgs[i - 1].role != "tool") out += "<|observation|>";
            add(out, {"\n<tool_response>\n", m.content, "\n</tool_response>"});
        } else if (m.role == "system") {
            add(out, {"<|system|>\n", m.content});
        }
    }
    if (opt.add_generation_prompt) {
        out += "<|assistant|>";
        if (no_think) out += "\n<think></think>";
    }
    return out;
}

// DeepSeek-V3.1's template: the system messages joined at the top, turns in full-width-bar
// tokens, thinking off unless asked for, tool calls and outputs in their own tokens.
std::string render_deepseek_v3(const std::vector<ChatMessage>& msgs, const ChatOptions& opt) {
    constexpr const char* kEos = "<｜end▁of▁sentence｜>";
    const bool thinking = opt.enable_thinking.value_or(false);
    std::string out = "<｜begin▁of▁sentence｜>";
    bool first_system = true;
    for (const ChatMessage& m : msgs)
        if (m.role == "system") {
            if (!first_system) out += "\n\n";
            out += m.content;
            first_system = false;
        }
    bool is_tool = false, last_user = false;
    for (const ChatMessage& m : msgs) {
        if (m.role == "user") {
            is_tool = false;
            last_user = true;
            add(out, {"<｜User｜>", m.content});
        } else if (m.role == "assistant" && !m.tool_calls.empty()) {
            if (last_user) out += "<｜Assistant｜><think></think>";
            last_user = is_tool = false;
            for (size_t j = 0; j < m.tool_calls.size(); ++j) {
                const ToolCall& c = m.tool_calls[j];
                if (j == 0) add(out, {m.content, "<｜tool▁calls▁begin｜>"});
                add(out, {"<｜tool▁call▁begin｜>", c.name, "<｜tool▁sep｜>", py_tojson(c.arguments), "<｜tool▁call▁end｜>"});
            }
            add(out, {"<｜tool▁calls▁end｜>", kEos});
        } else if (m.role == "assistant") {
            if (last_user) out += "<｜Assistant｜><think></think>";
            last_user = false;
            if (is_tool) {
                add(out, {m.content, kEos});
                is_tool = false;
            } else {
                const size_t end = m.content.find("</think>");
                add(out, {end == std::string::npos ? std::string_view(m.content) : std::string_view(m.content).substr(end + 8),
                          kEos});
            }
        } else if (m.role == "tool") {
            last_user = false;
            is_tool = true;
            add(out, {"<｜tool▁output▁begin｜>", m.content, "<｜tool▁output▁end｜>"});
        }
    }
    if (opt.add_generation_prompt && last_user && !is_tool) add(out, {"<｜Assistant｜>", thinking ? "<think>" : "<think></think>"});
    return out;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& jinja, const std::string& source) {
    if (jinja.empty()) fail("{}: the model has no chat template", source);
    if (jinja.find("<|channel|>") != std::string::npos && jinja.find("<|start|>") != std::string::npos) {
        style_ = ChatStyle::Harmony;
        return;
    }
    if (jinja.find("[gMASK]<sop>") != std::string::npos) {
        style_ = ChatStyle::Glm45;
        return;
    }
    if (jinja.find("<｜Assistant｜>") != std::string::npos) {
        style_ = ChatStyle::DeepSeekV3;
        return;
    }
    if (jinja.find("<|im_start|>") == std::string::npos)
        fail("{}: the chat template is not one sluice implements (Qwen3, Qwen3.5, gpt-oss, GLM-4.5/4.6, DeepSeek-V3.1)", source);
    // Qwen3.5's template writes XML tool calls; Qwen3's writes JSON ones.
    style_ = jinja.find("<function=") != std::string::npos ? ChatStyle::Qwen35 : ChatStyle::Qwen3;
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    switch (style_) {
        case ChatStyle::Qwen3: return render_qwen3(messages, options);
        case ChatStyle::Qwen35: return render_qwen35(messages, options);
        case ChatStyle::Glm45: return render_glm45(messages, options);
        case ChatStyle::DeepSeekV3: return render_deepseek_v3(messages, options);
        case ChatStyle::Harmony: return render_harmony(messages, options);
    }
    fail("internal: chat style {}", int(style_));
}

}  // namespace sluice
