#include "server/api_server.h"

#include <httplib.h>

#include <chrono>
#include <random>

#include "server/api_error.h"
#include "server/api_request.h"
#include "server/chat_reply.h"
#include "server/client_watch.h"
#include "server/metrics.h"
#include "server/reply_reader.h"
#include "server/reply_splitter.h"
#include "tokenizer/reply_parser.h"

namespace sluice::server {

namespace {

using nlohmann::json;

int64_t unix_time() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_id(const char* prefix) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{}{:016x}", prefix, rng());
}

void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status();
    res.set_content(e.body().dump(), "application/json");
}

json usage_json(int64_t prompt, int64_t completion) {
    return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

std::string sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

}  // namespace

struct ApiServer::Prepared {
    ApiRequest request;
    std::vector<int32_t> prompt;
    int64_t max_tokens = 0;
    bool thinking_open = false;   // the rendered prompt ends inside <think>
    ChatStyle style = ChatStyle::Qwen3;
    std::string id, model;
    int64_t created = 0;
};

ApiServer::ApiServer(const Tokenizer& tokenizer, Scheduler& scheduler, const ServerOptions& options)
    : tokenizer_(tokenizer), scheduler_(scheduler), options_(options), http_(std::make_unique<httplib::Server>()) {
    try {
        template_ = std::make_unique<ChatTemplate>(tokenizer.chat_template(), tokenizer.source());
    } catch (const Error& e) {
        template_error_ = e.what();   // completions still work
    }
    httplib::Server& s = *http_;
    // Every request may wait in the queue or stream for long: a thread each, so that a full
    // queue is answered with 503 instead of connections piling up unanswered.
    const size_t threads = size_t(scheduler.options().parallel + scheduler.options().queue_limit + 4);
    s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    s.set_payload_max_length(options_.max_body_bytes);
    s.set_keep_alive_timeout(5);
    s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (options_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
        if (req.get_header_value("Authorization") == "Bearer " + options_.api_key)
            return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, ApiError(401, "invalid_request_error", "invalid or missing API key (Authorization: Bearer KEY)", "",
                                 "invalid_api_key"));
        return httplib::Server::HandlerResponse::Handled;
    });
    // Statuses the library sets itself (404 unknown path, 413 body over the limit, 400 bad HTTP)
    // get an OpenAI error object too.
    s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 413)
            send_error(res, ApiError(413, "invalid_request_error",
                                     fmt::format("the request body is larger than the limit of {} bytes", options_.max_body_bytes)));
        else if (res.status == 404)
            send_error(res, ApiError(404, "invalid_request_error", fmt::format("no such endpoint: {} {}", req.method, req.path)));
        else
            send_error(res, ApiError(res.status, "invalid_request_error", fmt::format("bad HTTP request (status {})", res.status)));
    });
    s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
            std::rethrow_exception(ep);
        } catch (const ApiError& e) {
            send_error(res, e);
        } catch (const std::exception& e) {
            send_error(res, ApiError(500, "server_error", e.what()));
        }
    });
    s.set_logger([this](const httplib::Request&, const httplib::Response& res) { count_response(res.status); });

    s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, true); });
    s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, false); });
    s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
        const json model = {{"id", options_.model_id}, {"object", "model"}, {"created", unix_time()}, {"owned_by", "sluice"}};
        res.set_content(json{{"object", "list"}, {"data", json::array({model})}}.dump(), "application/json");
    });
    s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        if (stopping_) res.status = 503;
        res.set_content(json{{"status", stopping_ ? "shutting down" : "ok"}}.dump(), "application/json");
    });
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics(), "text/plain; version=0.0.4");
    });
}

ApiServer::~ApiServer() { shutdown(); }

int ApiServer::bind() {
    const int port = options_.port == 0 ? http_->bind_to_any_port(options_.host)
                                        : (http_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
    if (port < 0) fail("cannot listen on {}:{} (address in use, or not an address of this machine)", options_.host, options_.port);
    return port;
}

void ApiServer::serve() { http_->listen_after_bind(); }

void ApiServer::shutdown() {
    stopping_ = true;
    scheduler_.shutdown();
    http_->stop();
}

void ApiServer::count_response(int status) {
    std::lock_guard lock(counts_mutex_);
    ++responses_[status];
}

std::string ApiServer::metrics() const {
    std::map<int, int64_t> responses;
    {
        std::lock_guard lock(counts_mutex_);
        responses = responses_;
    }
    return render_metrics(scheduler_.stats(), scheduler_.options(), responses);
}

ApiServer::Prepared ApiServer::prepare(const httplib::Request& req, bool chat) const {
    Prepared p;
    p.request = parse_api_request(req.body, chat);
    const ApiRequest& r = p.request;
    if (!r.model.empty() && r.model != options_.model_id)
        throw ApiError(404, "invalid_request_error",
                       fmt::format("model '{}' does not exist; this server serves '{}'", r.model, options_.model_id), "model",
                       "model_not_found");
    std::string text = r.prompt;
    if (chat) {
        if (!template_) throw ApiError(400, "invalid_request_error", "the model has no usable chat template: " + template_error_);
        p.style = template_->style();
        try {
            text = template_->render(r.messages, r.chat_options);
        } catch (const Error& e) {
            bad_request("messages", "{}", e.what());
        }
        p.thinking_open = text.size() >= 8 && text.compare(text.size() - 8, 8, "<think>\n") == 0;
    }
    try {
        p.prompt = tokenizer_.encode_prompt(text);
    } catch (const Error& e) {
        bad_request(chat ? "messages" : "prompt", "{}", e.what());
    }
    const int64_t ctx = scheduler_.options().context;
    const int64_t n = int64_t(p.prompt.size());
    if (n == 0) bad_request(chat ? "messages" : "prompt", "the prompt is empty");
    if (n >= ctx)
        throw ApiError(400, "invalid_request_error",
                       fmt::format("the prompt has {} tokens; the context holds {} (the prompt at most {}, with room for a reply)",
                                   n, ctx, ctx - 1),
                       chat ? "messages" : "prompt", "context_length_exceeded");
    if (r.max_tokens && *r.max_tokens > ctx)
        bad_request(r.max_tokens_field, "{} must be between 1 and the context, {}; got {}", r.max_tokens_field, ctx, *r.max_tokens);
    p.max_tokens = r.max_tokens.value_or(chat ? ctx - n : 16);
    p.id = random_id(chat ? "chatcmpl-" : "cmpl-");
    p.model = options_.model_id;
    p.created = unix_time();
    return p;
}

void ApiServer::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
    auto p = std::make_shared<Prepared>(prepare(req, chat));
    std::shared_ptr<RequestStream> stream = scheduler_.submit({p->prompt, p->max_tokens, p->request.sampler});
    if (!stream) {
        res.set_header("Retry-After", "1");
        send_error(res, ApiError(503, "server_error",
                                 fmt::format("the server is busy: {} requests are already waiting; retry later",
                                             scheduler_.options().queue_limit),
                                 "", "queue_full"));
        return;
    }
    if (p->request.stream) reply_stream(req, res, p, std::move(stream));
    else reply_whole(req, res, *p, std::move(stream));
}

void ApiServer::reply_whole(const httplib::Request& req, httplib::Response& res, const Prepared& p,
                            std::shared_ptr<RequestStream> stream) {
    const ClientWatch watch(req.local_port, req.remote_port);
    ReplyReader reader(tokenizer_, std::move(stream), p.request.stop);
    std::string text;
    while (!reader.done()) text += reader.next([&] { return watch.gone(); });
    if (reader.cancelled()) return;   // nobody is left to answer
    if (reader.error()) return send_error(res, *reader.error());

    json choice = {{"index", 0}, {"finish_reason", reader.finish_reason()}, {"logprobs", nullptr}};
    json body = {{"id", p.id}, {"created", p.created}, {"model", p.model},
                 {"usage", usage_json(int64_t(p.prompt.size()), reader.tokens())}};
    if (p.request.chat) {
        std::string finish = reader.finish_reason();
        const json message = chat_message_json(text, p.thinking_open, p.style, !p.request.chat_options.tools.empty(), finish);
        choice["finish_reason"] = finish;
        choice["message"] = message;
        body["object"] = "chat.completion";
    } else {
        choice["text"] = text;
        body["object"] = "text_completion";
    }
    body["choices"] = json::array({choice});
    res.set_content(body.dump(), "application/json");
}

void ApiServer::reply_stream(const httplib::Request& req, httplib::Response& res, const std::shared_ptr<Prepared>& p,
                             std::shared_ptr<RequestStream> stream) {
    auto watch = std::make_shared<ClientWatch>(req.local_port, req.remote_port);
    auto reader = std::make_shared<ReplyReader>(tokenizer_, std::move(stream), p->request.stop);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [p, watch, reader](size_t, httplib::DataSink& sink) {
        const bool chat = p->request.chat;
        const bool tools = chat && !p->request.chat_options.tools.empty();
        const auto chunk = [&](json choice) {
            json j = {{"id", p->id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", p->created},
                      {"model", p->model}, {"choices", json::array({std::move(choice)})}};
            if (p->request.include_usage) j["usage"] = nullptr;
            return sse(j);
        };
        const auto write = [&](const std::string& s) {
            if (sink.write(s.data(), s.size())) return true;
            reader->cancel();   // the client is gone
            return false;
        };
        const auto delta = [&](const ReplyDelta& d) {
            if (!chat) return d.content.empty() || write(chunk({{"index", 0}, {"text", d.content}, {"finish_reason", nullptr}}));
            json dj = json::object();
            if (!d.reasoning.empty()) dj["reasoning_content"] = d.reasoning;
            if (!d.content.empty()) dj["content"] = d.content;
            return dj.empty() || write(chunk({{"index", 0}, {"delta", dj}, {"finish_reason", nullptr}}));
        };
        if (chat && !write(chunk({{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}})))
            return false;
        ReplySplitter splitter(p->thinking_open, tools);
        std::string text, streamed_content;
        while (!reader->done()) {
            const std::string piece = reader->next([&] { return watch->gone(); });
            text += piece;
            ReplyDelta d = chat ? splitter.push(piece) : ReplyDelta{{}, piece};
            streamed_content += d.content;
            if (!delta(d)) return false;
        }
        if (reader->cancelled()) return false;
        if (reader->error()) {
            write(sse(reader->error()->body()));
            write("data: [DONE]\n\n");
            sink.done();
            return true;
        }
        std::string finish = reader->finish_reason();
        if (chat) {
            ReplyDelta d = splitter.finish();
            streamed_content += d.content;
            if (!delta(d)) return false;
            if (tools) {
                // The tool-call blocks were held back; the complete reply says what they hold.
                const ParsedReply parsed = parse_reply(text, p->style);
                json calls = json::array();
                for (size_t i = 0; i < parsed.tool_calls.size(); ++i) calls.push_back(tool_call_json(parsed.tool_calls[i], int(i)));
                if (!calls.empty()) {
                    if (!write(chunk({{"index", 0}, {"delta", {{"tool_calls", calls}}}, {"finish_reason", nullptr}}))) return false;
                    finish = "tool_calls";
                }
                // A block that did not parse stays text: what of the answer was not sent yet.
                if (parsed.content.size() > streamed_content.size() && parsed.content.starts_with(streamed_content) &&
                    !delta({{}, parsed.content.substr(streamed_content.size())}))
                    return false;
            }
            if (!write(chunk({{"index", 0}, {"delta", json::object()}, {"finish_reason", finish}}))) return false;
        } else if (!write(chunk({{"index", 0}, {"text", ""}, {"finish_reason", finish}}))) {
            return false;
        }
        if (p->request.include_usage) {
            json j = {{"id", p->id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", p->created},
                      {"model", p->model}, {"choices", json::array()},
                      {"usage", usage_json(int64_t(p->prompt.size()), reader->tokens())}};
            if (!write(sse(j))) return false;
        }
        if (!write("data: [DONE]\n\n")) return false;
        sink.done();
        return true;
    });
}

}  // namespace sluice::server
