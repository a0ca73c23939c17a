// The HTTP API in process, on 127.0.0.1 and a free port, with cpp-httplib's client.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "format/gguf.h"
#include "runtime/model_tokenizer.h"
#include "runtime/session.h"
#include "server/api_server.h"
#include "test_support.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/reply_parser.h"

namespace sluice::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The engine's model behind a gate the test controls: a forward step that finds the gate closed
// waits there, so a test can hold a sequence in its slot for as long as it needs without
// depending on how fast the model generates.
class GatedModel : public Model {
public:
    explicit GatedModel(Model& inner) : inner_(inner) {}
    // Lets `steps` more forward steps through, then holds the next one.
    void allow(int64_t steps) {
        {
            std::lock_guard lock(mutex_);
            allowed_ = steps;
        }
        changed_.notify_all();
    }
    void close() { allow(0); }
    void open() { allow(kOpen); }
    // Waits until a forward step is held at the gate.
    void wait_held() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return held_ > 0; });
    }
    const ModelConfig& config() const override { return inner_.config(); }
    std::unique_ptr<ModelState> new_state(int64_t capacity) const override { return inner_.new_state(capacity); }
    void forward_batch(std::span<const SequenceStep> steps) override {
        {
            std::unique_lock lock(mutex_);
            if (allowed_ == 0) {
                ++held_;
                changed_.notify_all();
                changed_.wait(lock, [&] { return allowed_ > 0; });
                --held_;
            }
            if (allowed_ != kOpen) --allowed_;
        }
        inner_.forward_batch(steps);
    }
    uint64_t dense_bytes() const override { return inner_.dense_bytes(); }

private:
    static constexpr int64_t kOpen = INT64_MAX;
    Model& inner_;
    std::mutex mutex_;
    std::condition_variable changed_;
    int64_t allowed_ = kOpen, held_ = 0;
};

// A server over the tiny Qwen3-MoE fixture (random weights, its own tokenizer and template).
class ApiServerTest : public ::testing::Test {
protected:
    void start(int64_t parallel = 4, int64_t queue = 16, const std::string& api_key = "",
               const std::string& model = "gguf/qwen3moe-tiny-f32.gguf") {
        EngineOptions eo;
        eo.model_path = test::fixture(model);
        eo.context = 512;
        eo.prefill_batch = 7;
        eo.sequences = parallel;
        engine_ = std::make_unique<Engine>(eo);
        TokenizerSpec spec = gguf_tokenizer_spec(GgufFile(eo.model_path));
        if (bos_ >= 0) {  // as DeepSeek-V3's and Kimi's tokenizers say: add_bos_token
            spec.bos = bos_;
            spec.add_bos = true;
        }
        tokenizer_ = std::make_unique<Tokenizer>(spec);
        SchedulerOptions so;
        so.parallel = parallel;
        so.context = engine_->context();
        so.prompt_chunk = eo.prefill_batch;
        so.queue_limit = queue;
        gate_ = std::make_unique<GatedModel>(engine_->model());
        scheduler_ = std::make_unique<Scheduler>(*gate_, engine_->experts(),
                                                 [this](int32_t id) { return tokenizer_->is_stop(id); }, so);
        ServerOptions o;
        o.port = 0;
        o.model_id = "tiny";
        o.api_key = api_key;
        o.max_body_bytes = 64 << 10;
        server_ = std::make_unique<ApiServer>(*tokenizer_, *scheduler_, o);
        port_ = server_->bind();
        serving_ = std::thread([this] { server_->serve(); });
    }
    void TearDown() override {
        if (gate_) gate_->open();
        if (server_) server_->shutdown();
        if (serving_.joinable()) serving_.join();
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(60, 0);
        return c;
    }
    httplib::Result post(const std::string& path, const std::string& body, const httplib::Headers& headers = {}) const {
        return client().Post(path.c_str(), headers, body, "application/json");
    }
    // Greedy continuation of `prompt` ids by a Session, up to the first stop token (excluded).
    std::vector<int32_t> greedy(const std::vector<int32_t>& prompt, int64_t n, bool* stopped = nullptr) {
        Session s(*engine_);
        s.feed(prompt);
        Sampler g(SamplerOptions{});
        std::vector<int32_t> out = s.generate(n, g, [&](int32_t id) { return !tokenizer_->is_stop(id); });
        if (stopped) *stopped = !out.empty() && tokenizer_->is_stop(out.back());
        if (!out.empty() && tokenizer_->is_stop(out.back())) out.pop_back();
        return out;
    }
    // The data: lines of an event stream, [DONE] included.
    static std::vector<std::string> events(const std::string& body) {
        std::vector<std::string> out;
        size_t pos = 0;
        while ((pos = body.find("data: ", pos)) != std::string::npos) {
            const size_t end = body.find("\n\n", pos);
            out.push_back(body.substr(pos + 6, end - pos - 6));
            pos = end;
        }
        return out;
    }

    int32_t bos_ = -1;   // set before start(): the tokenizer adds this BOS to every prompt
    std::unique_ptr<Engine> engine_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<GatedModel> gate_;   // between the engine's model and the scheduler
    std::unique_ptr<Scheduler> scheduler_;
    std::unique_ptr<ApiServer> server_;
    std::thread serving_;
    int port_ = 0;
};

TEST_F(ApiServerTest, ModelsHealthAndMetrics) {
    start();
    auto models = client().Get("/v1/models");
    ASSERT_TRUE(models);
    EXPECT_EQ(models->status, 200);
    EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "tiny");
    auto health = client().Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(json::parse(health->body)["status"], "ok");
    ASSERT_TRUE(post("/v1/completions", R"({"prompt": "Hello", "max_tokens": 3, "temperature": 0})"));
    auto metrics = client().Get("/metrics");
    ASSERT_TRUE(metrics);
    for (const char* line : {"sluice_requests_total 1\n", "sluice_generated_tokens_total 3\n", "sluice_queue_length 0\n",
                             "sluice_http_responses_total{code=\"200\"}", "sluice_expert_cache_hit_rate ", "sluice_expert_cache_hits_total ",
                             "sluice_expert_cache_misses_total ",
                             "sluice_expert_bytes_read_total ", "sluice_peak_rss_bytes ", "sluice_generated_tokens_per_second "})
        EXPECT_NE(metrics->body.find(line), std::string::npos) << line << "\n" << metrics->body;
}

// Greedy text equals the Session's greedy tokens decoded; usage counts the prompt's tokens and
// every sampled one (the end-of-turn token included); the stream carries the same text.
TEST_F(ApiServerTest, GreedyCompletionMatchesSessionWithUsage) {
    start();
    const std::vector<int32_t> prompt = tokenizer_->encode("Once upon a time");
    bool stopped = false;
    const std::vector<int32_t> want = greedy(prompt, 40, &stopped);
    auto r = post("/v1/completions", R"({"model": "tiny", "prompt": "Once upon a time", "max_tokens": 40, "temperature": 0})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body);
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["choices"][0]["text"], tokenizer_->decode(want));
    EXPECT_EQ(j["choices"][0]["finish_reason"], stopped ? "stop" : "length");
    EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());
    EXPECT_EQ(j["usage"]["completion_tokens"], want.size() + (stopped ? 1 : 0));
    EXPECT_EQ(j["usage"]["total_tokens"], prompt.size() + want.size() + (stopped ? 1 : 0));

    auto s = post("/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0, "stream": true,
                                         "stream_options": {"include_usage": true}})");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->get_header_value("Content-Type"), "text/event-stream");
    const std::vector<std::string> ev = events(s->body);
    ASSERT_GE(ev.size(), 3u);
    EXPECT_EQ(ev.back(), "[DONE]");
    std::string text;
    for (size_t i = 0; i + 2 < ev.size(); ++i) text += json::parse(ev[i])["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(text, tokenizer_->decode(want));
    const json usage = json::parse(ev[ev.size() - 2]);
    EXPECT_TRUE(usage["choices"].empty());
    EXPECT_EQ(usage["usage"], j["usage"]);
}

// A tokenizer that adds BOS (DeepSeek-V3, Kimi) puts it before a completion's text, once before
// a chat render that has none, and the reply is the model's answer to that; Qwen's adds none
// (the test above: prompt_tokens is the text's own count).
TEST_F(ApiServerTest, PromptsStartWithBosWhenTheTokenizerAddsIt) {
    bos_ = 509;   // the tiny tokenizer's <|endoftext|>
    start();
    std::vector<int32_t> prompt = tokenizer_->encode("Once upon a time");
    const std::vector<int32_t> without = greedy(prompt, 12);
    prompt.insert(prompt.begin(), 509);
    const std::vector<int32_t> want = greedy(prompt, 12);
    ASSERT_NE(want, without);   // else this test could not tell
    auto r = post("/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body);
    EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());
    EXPECT_EQ(j["choices"][0]["text"], tokenizer_->decode(want));

    const ChatTemplate tmpl(tokenizer_->chat_template(), tokenizer_->source());
    const std::vector<int32_t> rendered = tokenizer_->encode(tmpl.render({{"user", "Hello there", std::nullopt, {}}}, {}));
    auto c = post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 4})");
    ASSERT_TRUE(c);
    ASSERT_EQ(c->status, 200) << c->body;
    EXPECT_EQ(json::parse(c->body)["usage"]["prompt_tokens"], rendered.size() + 1);
}

// Chat: the template renders the conversation; the answer equals the greedy tokens of the rendered
// prompt; streamed deltas add up to the same message.
TEST_F(ApiServerTest, ChatCompletionWholeAndStreamed) {
    start();
    const ChatTemplate tmpl(tokenizer_->chat_template(), tokenizer_->source());
    std::vector<ChatMessage> messages = {{"system", "Be brief.", std::nullopt, {}}, {"user", "Hello there", std::nullopt, {}}};
    const std::vector<int32_t> prompt = tokenizer_->encode(tmpl.render(messages, {}));
    const std::vector<int32_t> want = greedy(prompt, 24);
    const std::string body = R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}],
                                 "max_tokens": 24, "temperature": 0)";
    auto r = post("/v1/chat/completions", body + "}");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json j = json::parse(r->body);
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
    const std::string text = tokenizer_->decode(want);
    const ParsedReply parsed = parse_reply(text, tmpl.style());
    EXPECT_EQ(j["choices"][0]["message"]["content"], parsed.content);
    EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());

    auto s = post("/v1/chat/completions", body + R"(, "stream": true})");
    ASSERT_TRUE(s);
    const std::vector<std::string> ev = events(s->body);
    ASSERT_GE(ev.size(), 3u);
    EXPECT_EQ(ev.back(), "[DONE]");
    EXPECT_EQ(json::parse(ev[0])["choices"][0]["delta"]["role"], "assistant");
    std::string content, reasoning;
    for (size_t i = 0; i + 1 < ev.size(); ++i) {
        const json d = json::parse(ev[i])["choices"][0]["delta"];
        content += d.value("content", "");
        reasoning += d.value("reasoning_content", "");
    }
    EXPECT_EQ(json::parse(ev[ev.size() - 2])["choices"][0]["finish_reason"], j["choices"][0]["finish_reason"]);
    // The stream sends the answer as generated; the whole reply is stripped at both ends.
    const auto strip = [](const std::string& t) {
        const size_t b = t.find_first_not_of(" \t\n\r");
        return b == std::string::npos ? std::string() : t.substr(b, t.find_last_not_of(" \t\n\r") - b + 1);
    };
    EXPECT_EQ(strip(content), parsed.content);
    EXPECT_EQ(reasoning, parsed.reasoning);
}

// chat_template_kwargs.enable_thinking=false closes an empty thought in the prompt (Qwen3's
// template; the fixtures have no Qwen3.5 template, whose generation prompt opens <think>: see
// ChatReply and ReplySplitter for replies that start inside it), so the prompt grows by exactly
// the tokens of "<think>\n\n</think>\n\n"; the reply is the answer either way.
TEST_F(ApiServerTest, ThinkingIsSwitchablePerRequest) {
    start();
    const json base = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 6}, {"temperature", 0}};
    json no_think = base;
    no_think["chat_template_kwargs"] = {{"enable_thinking", false}};
    auto thinking = post("/v1/chat/completions", base.dump());
    auto answer = post("/v1/chat/completions", no_think.dump());
    ASSERT_TRUE(thinking && answer);
    ASSERT_EQ(thinking->status, 200) << thinking->body;
    ASSERT_EQ(answer->status, 200) << answer->body;
    const json t = json::parse(thinking->body), a = json::parse(answer->body);
    EXPECT_EQ(a["usage"]["prompt_tokens"].get<size_t>(),
              t["usage"]["prompt_tokens"].get<size_t>() + tokenizer_->encode("<think>\n\n</think>\n\n").size());
    EXPECT_FALSE(a["choices"][0]["message"].contains("reasoning_content")) << a;
    EXPECT_TRUE(a["choices"][0]["message"]["content"].is_string());
}

// A conversation with an assistant tool call (arguments as the JSON string clients send) and the
// tool's result is rendered by the model's template: the prompt is that rendering's tokens.
TEST_F(ApiServerTest, ToolCallHistoryIsRenderedByTheTemplate) {
    start();
    const json tools = {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
    const json body = {{"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}},
                                     {{"role", "assistant"}, {"content", nullptr},
                                      {"tool_calls", {{{"id", "call_1"}, {"type", "function"},
                                                       {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}}}}},
                                     {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "Rain"}}}},
                       {"tools", tools}, {"max_tokens", 2}};
    auto r = post("/v1/chat/completions", body.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ChatOptions options;
    options.tools = nlohmann::ordered_json::parse(tools.dump());
    const auto messages = chat_messages_from_json(nlohmann::ordered_json::parse(body["messages"].dump()));
    const std::string rendered = ChatTemplate(tokenizer_->chat_template(), tokenizer_->source()).render(messages, options);
    EXPECT_NE(rendered.find("get_weather"), std::string::npos);
    EXPECT_NE(rendered.find("Rain"), std::string::npos);
    EXPECT_EQ(json::parse(r->body)["usage"]["prompt_tokens"], tokenizer_->encode(rendered).size());
}

TEST_F(ApiServerTest, StopStringCutsTheReply) {
    start();
    const std::string full = tokenizer_->decode(greedy(tokenizer_->encode("Once upon a time"), 40));
    ASSERT_GE(full.size(), 8u);
    const std::string stop = full.substr(4, 3);
    const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 0}, {"stop", {"never-there", stop}}};
    for (bool stream : {false, true}) {
        json b = body;
        b["stream"] = stream;
        auto r = post("/v1/completions", b.dump());
        ASSERT_TRUE(r);
        std::string text, finish;
        if (stream) {
            for (const std::string& e : events(r->body))
                if (e != "[DONE]") {
                    text += json::parse(e)["choices"][0]["text"].get<std::string>();
                    if (!json::parse(e)["choices"][0]["finish_reason"].is_null()) finish = json::parse(e)["choices"][0]["finish_reason"];
                }
        } else {
            text = json::parse(r->body)["choices"][0]["text"];
            finish = json::parse(r->body)["choices"][0]["finish_reason"];
        }
        EXPECT_EQ(text, full.substr(0, full.find(stop))) << stream;
        EXPECT_EQ(finish, "stop");
    }
}

// Every bad request gets its status and an OpenAI error object naming what is wrong.
TEST_F(ApiServerTest, BadRequestsGetOpenAiErrors) {
    start();
    struct Case {
        const char* path;
        std::string body;
        int status;
        const char* param;     // "" when null
        const char* message;   // a part of it
    };
    const std::string big_prompt = json{{"prompt", std::string(2000, 'x') + " " + std::string(2000, 'y')}}.dump();
    const std::vector<Case> cases = {
        {"/v1/completions", "{\"prompt\": ", 400, "", "not valid JSON"},
        {"/v1/completions", "[1, 2]", 400, "", "must be a JSON object, not array"},
        {"/v1/completions", R"({"max_tokens": 3})", 400, "prompt", "prompt is required"},
        {"/v1/completions", R"({"prompt": 5})", 400, "prompt", "prompt must be a string"},
        {"/v1/completions", R"({"prompt": "a", "max_tokens": "3"})", 400, "max_tokens", "max_tokens must be an integer, not string"},
        {"/v1/completions", R"({"prompt": "a", "max_tokens": 0})", 400, "max_tokens", "between 1 and"},
        {"/v1/completions", R"({"prompt": "a", "max_tokens": 513})", 400, "max_tokens", "between 1 and the context, 512"},
        {"/v1/completions", R"({"prompt": "a", "temperature": 3})", 400, "temperature", "between 0 and 2"},
        {"/v1/completions", R"({"prompt": "a", "temperature": "hot"})", 400, "temperature", "must be a number"},
        {"/v1/completions", R"({"prompt": "a", "stream": "yes"})", 400, "stream", "must be a boolean"},
        {"/v1/completions", R"({"prompt": "a", "stop": ["a", "b", "c", "d", "e"]})", 400, "stop", "at most 4"},
        {"/v1/completions", R"({"prompt": "a", "stop": 7})", 400, "stop", "string or an array"},
        {"/v1/completions", R"({"prompt": "a", "n": 2})", 400, "n", "between 1 and 1"},
        {"/v1/completions", R"({"prompt": "a", "stream_options": {"include_usage": true}})", 400, "stream_options", "stream: true"},
        {"/v1/completions", R"({"prompt": "a", "model": "gpt-4"})", 404, "model", "model 'gpt-4' does not exist"},
        {"/v1/completions", big_prompt, 400, "prompt", "the context holds 512"},
        {"/v1/chat/completions", R"({"messages": []})", 400, "messages", "must not be empty"},
        {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 9999})", 400,
         "max_completion_tokens", "max_completion_tokens must be between 1 and the context, 512"},
        {"/v1/chat/completions", R"({"messages": "hi"})", 400, "messages", "must be an array"},
        {"/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "x"}]})", 400, "messages[0].role", "not 'wizard'"},
        {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": 3}]})", 400, "messages[0].content", "string or an array"},
        {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", 400, "tools", "must be an array"},
        {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})", 400, "tool_choice", "auto"},
        // Fields of the wrong JSON type inside tools and content parts (a fuzzer found these threw).
        {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": 1}]})", 400, "tools[0]",
         "tools[0] must be"},
        {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": [{"type": 7, "text": "x"}]}]})", 400, "messages",
         "only text parts"},
        {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": {"enable_thinking": 1}})",
         400, "enable_thinking", "must be a boolean"},
        {"/v1/completions", json{{"prompt", std::string(70 << 10, 'a')}}.dump(), 413, "", "larger than the limit of 65536 bytes"},
        {"/v1/nothing", "{}", 404, "", "no such endpoint"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.body.substr(0, 120));
        auto r = post(c.path, c.body);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, c.status);
        const json e = json::parse(r->body)["error"];
        EXPECT_NE(e["message"].get<std::string>().find(c.message), std::string::npos) << e["message"];
        EXPECT_EQ(e["param"], *c.param ? json(c.param) : json(nullptr));
        EXPECT_TRUE(e["type"].is_string());
    }
    // The server is still up and serves a valid request.
    auto ok = post("/v1/completions", R"({"prompt": "a", "max_tokens": 2})");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
}

TEST_F(ApiServerTest, ApiKeyIsRequiredButNotForHealth) {
    start(1, 4, "sesame");
    auto no_key = post("/v1/completions", R"({"prompt": "a", "max_tokens": 1})");
    ASSERT_TRUE(no_key);
    EXPECT_EQ(no_key->status, 401);
    EXPECT_EQ(json::parse(no_key->body)["error"]["code"], "invalid_api_key");
    auto wrong = post("/v1/completions", R"({"prompt": "a", "max_tokens": 1})", {{"Authorization", "Bearer nope"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    auto models = client().Get("/v1/models");
    ASSERT_TRUE(models);
    EXPECT_EQ(models->status, 401);
    auto right = post("/v1/completions", R"({"prompt": "a", "max_tokens": 1})", {{"Authorization", "Bearer sesame"}});
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 200);
    auto health = client().Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
}

// The same greedy requests one at a time and four at once (over HTTP) give the same text.
TEST_F(ApiServerTest, ConcurrentGreedyRequestsEqualSequentialOnes) {
    start(4);
    const std::vector<std::string> prompts = {"Once upon a time", "The cat", "In a hole in the ground there lived", "x"};
    auto ask = [&](const std::string& p) {
        auto r = post("/v1/completions", json{{"prompt", p}, {"max_tokens", 24}, {"temperature", 0}}.dump());
        return r && r->status == 200 ? json::parse(r->body)["choices"][0]["text"].get<std::string>() : std::string("failed");
    };
    std::vector<std::string> one_by_one;
    for (const auto& p : prompts) one_by_one.push_back(ask(p));
    std::vector<std::future<std::string>> together;
    for (const auto& p : prompts) together.push_back(std::async(std::launch::async, ask, p));
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].get(), one_by_one[i]) << prompts[i];
}

// With one slot busy and the one queue place taken, the next request gets 503 and Retry-After.
TEST_F(ApiServerTest, FullQueueGets503WithRetryAfter) {
    start(1, 1);
    gate_->close();   // the first request stays in its slot until the gate opens
    std::atomic<bool> release{false};
    auto long_stream = std::async(std::launch::async, [&] {
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/completions";
        req.body = R"({"prompt": "a", "max_tokens": 500, "stream": true})";
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return !release; };   // then hangs up
        return client().send(req);
    });
    gate_->wait_held();
    auto queued = std::async(std::launch::async, [&] { return post("/v1/completions", R"({"prompt": "b", "max_tokens": 2})"); });
    while (scheduler_->stats().queued == 0) std::this_thread::sleep_for(5ms);
    auto refused = post("/v1/completions", R"({"prompt": "c", "max_tokens": 2})");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 503);
    EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
    EXPECT_EQ(json::parse(refused->body)["error"]["code"], "queue_full");
    release = true;
    gate_->open();
    long_stream.get();
    auto served = queued.get();
    ASSERT_TRUE(served);
    EXPECT_EQ(served->status, 200);
}

// Sends a request on a raw connection and closes it at once, before any reply: a client that
// gives up on a whole (non-streamed) reply.
void post_and_hang_up(int port, const std::string& path, const std::string& body) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
    ::close(fd);
}

// A client that goes away (whole reply or stream) cancels its generation: the slot is free long
// before max_tokens would have been reached. The gate holds the generation while the client hangs
// up, so that it cannot end by itself first however fast the model is: the whole-reply client
// hangs up before the first token, the streaming one at its first chunk, which comes within the
// 8 steps the gate lets through.
TEST_F(ApiServerTest, ClientGoneCancelsTheGeneration) {
    start(1);
    constexpr int64_t kSteps = 8;   // the prompt's step and 7 tokens'
    bool stopped = false;
    const std::string start_of_reply = tokenizer_->decode(greedy(tokenizer_->encode("a"), kSteps, &stopped));
    ASSERT_FALSE(stopped || start_of_reply.empty()) << "the greedy reply to \"a\" must have text and no end within " << kSteps << " tokens";
    for (bool stream : {false, true}) {
        SCOPED_TRACE(stream);
        const int64_t before = scheduler_->stats().generated_tokens, cancelled = scheduler_->stats().cancelled;
        const std::string body = json{{"prompt", "a"}, {"max_tokens", 500}, {"temperature", 0}, {"stream", stream}}.dump();
        if (stream) {
            gate_->allow(kSteps);
            httplib::Request req;
            req.method = "POST";
            req.path = "/v1/completions";
            req.body = body;
            req.set_header("Content-Type", "application/json");
            req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return false; };
            client().send(req);
        } else {
            gate_->close();
            post_and_hang_up(port_, "/v1/completions", body);
        }
        gate_->open();
        // The generation ends as cancelled (not by length or an end token), and its slot is free.
        const auto t0 = std::chrono::steady_clock::now();
        const auto ended = [&] { return scheduler_->stats().cancelled > cancelled && scheduler_->stats().active == 0; };
        while (!ended() && std::chrono::steady_clock::now() - t0 < 5s) std::this_thread::sleep_for(5ms);
        EXPECT_EQ(scheduler_->stats().active, 0);
        EXPECT_EQ(scheduler_->stats().cancelled, cancelled + 1);
        EXPECT_LT(scheduler_->stats().generated_tokens - before, 400);
    }
}

}  // namespace
}  // namespace sluice::server
