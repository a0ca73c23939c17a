#include "server/api_request.h"

#include <random>

#include "server/api_error.h"

namespace sluice::server {

namespace {

using nlohmann::ordered_json;

// The JSON type names OpenAI's errors use.
const char* type_name(const ordered_json& v) {
    if (v.is_null()) return "null";
    if (v.is_boolean()) return "boolean";
    if (v.is_number_integer()) return "integer";
    if (v.is_number()) return "number";
    if (v.is_string()) return "string";
    if (v.is_array()) return "array";
    return "object";
}

const ordered_json* field(const ordered_json& body, const char* name) {
    auto it = body.find(name);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const ordered_json& body, const char* name, double lo, double hi, double fallback) {
    const ordered_json* v = field(body, name);
    if (!v) return fallback;
    if (!v->is_number()) bad_request(name, "{} must be a number, not {}", name, type_name(*v));
    const double x = v->get<double>();
    if (!(x >= lo && x <= hi)) bad_request(name, "{} must be between {} and {}, got {}", name, lo, hi, x);
    return x;
}

std::optional<int64_t> integer(const ordered_json& body, const char* name, int64_t lo, int64_t hi) {
    const ordered_json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) bad_request(name, "{} must be an integer, not {}", name, type_name(*v));
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX))
        bad_request(name, "{} must be between {} and {}, got {}", name, lo, hi, v->get<uint64_t>());
    const int64_t x = v->get<int64_t>();
    if (x < lo || x > hi) bad_request(name, "{} must be between {} and {}, got {}", name, lo, hi, x);
    return x;
}

bool boolean(const ordered_json& body, const char* name, bool fallback) {
    const ordered_json* v = field(body, name);
    if (!v) return fallback;
    if (!v->is_boolean()) bad_request(name, "{} must be a boolean, not {}", name, type_name(*v));
    return v->get<bool>();
}

std::vector<std::string> stop_strings(const ordered_json& body) {
    const ordered_json* v = field(body, "stop");
    if (!v) return {};
    std::vector<std::string> out;
    if (v->is_string()) {
        out.push_back(v->get<std::string>());
    } else if (v->is_array()) {
        if (v->size() > kMaxStopStrings)
            bad_request("stop", "stop holds {} strings; at most {} are allowed", v->size(), kMaxStopStrings);
        for (const ordered_json& s : *v) {
            if (!s.is_string()) bad_request("stop", "stop must hold strings, not {}", type_name(s));
            out.push_back(s.get<std::string>());
        }
    } else {
        bad_request("stop", "stop must be a string or an array of strings, not {}", type_name(*v));
    }
    for (const std::string& s : out)
        if (s.empty()) bad_request("stop", "stop strings must not be empty");
    return out;
}

void read_chat_fields(const ordered_json& body, ApiRequest& r) {
    const ordered_json* messages = field(body, "messages");
    if (!messages) bad_request("messages", "messages is required");
    if (!messages->is_array()) bad_request("messages", "messages must be an array, not {}", type_name(*messages));
    if (messages->empty()) bad_request("messages", "messages must not be empty");
    for (size_t i = 0; i < messages->size(); ++i) {
        const ordered_json& m = (*messages)[i];
        const std::string param = fmt::format("messages[{}]", i);
        if (!m.is_object()) bad_request(param, "{} must be an object, not {}", param, type_name(m));
        const ordered_json* role = field(m, "role");
        if (!role || !role->is_string()) bad_request(param + ".role", "{}.role must be a string", param);
        const std::string rs = role->get<std::string>();
        if (rs != "system" && rs != "user" && rs != "assistant" && rs != "tool" && rs != "developer")
            bad_request(param + ".role", "{}.role must be system, developer, user, assistant or tool, not '{}'", param, rs);
        if (const ordered_json* c = field(m, "content"); c && !c->is_string() && !c->is_array())
            bad_request(param + ".content", "{}.content must be a string or an array of parts, not {}", param, type_name(*c));
    }
    ordered_json normalized = *messages;
    for (auto& m : normalized)
        if (m["role"] == "developer") m["role"] = "system";   // OpenAI's newer name for the system role
    try {
        r.messages = chat_messages_from_json(normalized);
    } catch (const ApiError&) {
        throw;
    } catch (const Error& e) {
        bad_request("messages", "{}", e.what());
    }

    std::string tool_choice = "auto";
    if (const ordered_json* tc = field(body, "tool_choice")) {
        if (!tc->is_string() || (*tc != "auto" && *tc != "none"))
            bad_request("tool_choice", "tool_choice must be \"auto\" or \"none\" (sluice does not force tool calls)");
        tool_choice = tc->get<std::string>();
    }
    if (const ordered_json* tools = field(body, "tools")) {
        if (!tools->is_array()) bad_request("tools", "tools must be an array, not {}", type_name(*tools));
        for (size_t i = 0; i < tools->size(); ++i) {
            const ordered_json& t = (*tools)[i];
            const ordered_json* f = t.is_object() ? field(t, "function") : nullptr;
            if (!t.is_object() || !field(t, "type") || t["type"] != "function" || !f || !f->is_object() || !field(*f, "name") ||
                !(*f)["name"].is_string())
                bad_request(fmt::format("tools[{}]", i), "tools[{}] must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}", i);
        }
        if (tool_choice != "none") r.chat_options.tools = *tools;
    }
    if (const ordered_json* kw = field(body, "chat_template_kwargs")) {
        if (!kw->is_object()) bad_request("chat_template_kwargs", "chat_template_kwargs must be an object, not {}", type_name(*kw));
        if (field(*kw, "enable_thinking")) r.chat_options.enable_thinking = boolean(*kw, "enable_thinking", true);
    }
}

void read_completion_fields(const ordered_json& body, ApiRequest& r) {
    const ordered_json* prompt = field(body, "prompt");
    if (!prompt) bad_request("prompt", "prompt is required");
    if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
    if (!prompt->is_string()) bad_request("prompt", "prompt must be a string (or an array of one string), not {}", type_name(*prompt));
    r.prompt = prompt->get<std::string>();
    if (r.prompt.empty()) bad_request("prompt", "prompt must not be empty");
}

}  // namespace

ApiRequest parse_api_request(const std::string& text, bool chat) {
    ordered_json body;
    try {
        body = ordered_json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        bad_request("", "the request body is not valid JSON: {}", e.what());
    }
    if (!body.is_object()) bad_request("", "the request body must be a JSON object, not {}", type_name(body));
    ApiRequest r;
    r.chat = chat;
    if (const ordered_json* m = field(body, "model")) {
        if (!m->is_string()) bad_request("model", "model must be a string, not {}", type_name(*m));
        r.model = m->get<std::string>();
    }
    if (chat) read_chat_fields(body, r);
    else read_completion_fields(body, r);

    if (integer(body, "n", 1, 1).value_or(1) != 1) bad_request("n", "n must be 1");
    // OpenAI's defaults: temperature 1, no top-p cut; top-k and min-p as sluice's sampler.
    r.sampler.temperature = float(number(body, "temperature", 0, 2, 1.0));
    r.sampler.top_p = float(number(body, "top_p", 0, 1, 1.0));
    r.sampler.min_p = float(number(body, "min_p", 0, 1, r.sampler.min_p));
    r.sampler.top_k = integer(body, "top_k", 0, INT32_MAX).value_or(r.sampler.top_k);
    if (auto seed = integer(body, "seed", INT64_MIN, INT64_MAX)) r.sampler.seed = uint64_t(*seed);
    else r.sampler.seed = std::random_device{}();
    if (chat && field(body, "max_completion_tokens")) r.max_tokens_field = "max_completion_tokens";
    r.max_tokens = integer(body, r.max_tokens_field.c_str(), 1, INT64_MAX);
    r.stop = stop_strings(body);
    r.stream = boolean(body, "stream", false);
    if (const ordered_json* so = field(body, "stream_options")) {
        if (!so->is_object()) bad_request("stream_options", "stream_options must be an object, not {}", type_name(*so));
        if (!r.stream) bad_request("stream_options", "stream_options is only allowed with stream: true");
        r.include_usage = boolean(*so, "include_usage", false);
    }
    return r;
}

}  // namespace sluice::server
