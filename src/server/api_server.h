// The OpenAI-compatible HTTP API over a Scheduler: POST /v1/chat/completions and /v1/completions
// (whole replies or server-sent events), GET /v1/models, /health and /metrics. Requests are
// checked before they queue (api_request.h); every failure is an OpenAI error object.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/scheduler.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace sluice::server {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                   // 0: any free port (bind() says which)
    std::string api_key;               // empty: no authentication
    std::string model_id;              // the name /v1/models lists and requests may give
    size_t max_body_bytes = 4u << 20;  // larger bodies get 413
};

class ApiServer {
public:
    // The tokenizer and scheduler must outlive the server.
    ApiServer(const Tokenizer& tokenizer, Scheduler& scheduler, const ServerOptions& options);
    ~ApiServer();

    // Binds the listening socket; returns the port. Throws naming host and port when it cannot.
    int bind();
    // Serves until shutdown(); call after bind().
    void serve();
    // Stops accepting, ends running and queued generations (a stream gets an error event), and
    // makes serve() return. Safe from any thread, once or more.
    void shutdown();

private:
    struct Prepared;
    Prepared prepare(const httplib::Request& req, bool chat) const;
    void generate(const httplib::Request& req, httplib::Response& res, bool chat);
    void reply_whole(const httplib::Request& req, httplib::Response& res, const Prepared& p,
                     std::shared_ptr<RequestStream> stream);
    void reply_stream(const httplib::Request& req, httplib::Response& res, const std::shared_ptr<Prepared>& p,
                      std::shared_ptr<RequestStream> stream);
    std::string metrics() const;
    void count_response(int status);

    const Tokenizer& tokenizer_;
    std::unique_ptr<ChatTemplate> template_;   // null when the model has none: chat is refused
    std::string template_error_;
    Scheduler& scheduler_;
    ServerOptions options_;
    std::unique_ptr<httplib::Server> http_;
    std::atomic<bool> stopping_{false};
    mutable std::mutex counts_mutex_;
    std::map<int, int64_t> responses_;   // by HTTP status
};

}  // namespace sluice::server
