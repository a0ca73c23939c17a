// `sluice serve` as a process on 127.0.0.1 and a free port: the official OpenAI client (npm
// package openai) against it, a load test (memory flat, peak under --mem by memcap) and the
// shutdown on SIGTERM.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "test_support.h"

namespace sluice {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string demo_model() { return test::source_dir() + "/models/demo-moe-11m.gguf"; }

// tools/memcap, or "" where it cannot cap (not root, no memory cgroup).
std::string memcap_if_usable() {
    const std::string memcap = test::source_dir() + "/tools/memcap";
    return test::run_command(memcap + " 64M true").exit_code == 0 ? memcap : "";
}

// `sluice serve ARGS --port 0` (optionally under memcap CAP), stderr to a file; the port is read
// from its "listening on" line.
class ServeProcess {
public:
    ServeProcess(const std::string& args, const std::string& memcap = "", const std::string& cap = "") {
        std::vector<std::string> argv;
        if (!memcap.empty()) argv = {memcap, cap};
        argv.push_back(test::sluice_binary());
        std::istringstream words(args + " --port 0");
        for (std::string w; words >> w;) argv.push_back(w);
        err_ = tmp_.file("stderr");
        pid_ = fork();
        if (pid_ == 0) {
            FILE* f = std::freopen(err_.c_str(), "w", stderr);
            (void)f;
            std::vector<char*> cargv;
            for (auto& a : argv) cargv.push_back(a.data());
            cargv.push_back(nullptr);
            execv(cargv[0], cargv.data());
            _exit(127);
        }
        const auto t0 = std::chrono::steady_clock::now();
        while (port_ == 0 && std::chrono::steady_clock::now() - t0 < 60s) {
            const std::string e = stderr_text();
            if (const size_t at = e.find("listening on http://127.0.0.1:"); at != std::string::npos)
                port_ = std::stoi(e.substr(at + 30));
            else if (waitpid(pid_, &status_, WNOHANG) == pid_) {
                pid_ = -1;
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
    }
    ~ServeProcess() {
        if (pid_ > 0) {
            kill(server_pid(), SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    int port() const { return port_; }
    std::string stderr_text() const { return test::read_file(err_); }
    // The sluice process: under memcap, memcap's child.
    pid_t server_pid() const {
        const std::string children = test::read_file(fmt_children());
        return children.empty() ? pid_ : pid_t(std::stol(children));
    }
    uint64_t rss_kib() const {
        const std::string status = test::read_file("/proc/" + std::to_string(server_pid()) + "/status");
        const size_t at = status.find("VmRSS:");
        return at == std::string::npos ? 0 : std::stoull(status.substr(at + 6));
    }
    // SIGTERM to the server; its exit status (-1 if it did not exit within `limit`).
    int terminate(std::chrono::seconds limit) {
        kill(server_pid(), SIGTERM);
        const auto t0 = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - t0 < limit) {
            if (waitpid(pid_, &status_, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
            }
            std::this_thread::sleep_for(20ms);
        }
        return -1;
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(120, 0);
        return c;
    }

private:
    std::string fmt_children() const { return "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children"; }

    test::TempDir tmp_;
    std::string err_;
    pid_t pid_ = -1;
    int status_ = 0;
    int port_ = 0;
};

TEST(Serve, OfficialOpenAiClientGetsTheGreedyTextAndUsage) {
    const std::string dir = test::source_dir() + "/tests/serve";
    if (!std::filesystem::exists(dir + "/node_modules/openai"))
        GTEST_SKIP() << "run tests/serve/setup.sh to install the openai npm package";
    ServeProcess server("serve -m " + demo_model() + " --alias demo --parallel 2");
    ASSERT_GT(server.port(), 0) << server.stderr_text();
    auto r = test::run_command("node " + dir + "/openai_client.mjs http://127.0.0.1:" + std::to_string(server.port()) + "/v1 " +
                               test::sluice_binary() + " " + demo_model() + " demo");
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("all checks passed"), std::string::npos) << r.out << r.err;
    EXPECT_EQ(server.terminate(30s), 0) << server.stderr_text();
}

// SIGTERM: the running stream ends with an error event and [DONE], the process exits 0.
TEST(Serve, SigtermEndsStreamsWithAnErrorAndExitsZero) {
    ServeProcess server("serve -m " + demo_model() + " --parallel 2");
    ASSERT_GT(server.port(), 0) << server.stderr_text();
    std::promise<void> streaming;
    auto stream = std::async(std::launch::async, [&] {
        std::string body;
        bool first = true;
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/completions";
        req.body = R"({"prompt": "It was", "max_tokens": 2000, "stream": true})";
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
            body.append(d, n);
            if (first) streaming.set_value();
            first = false;
            return true;
        };
        server.client().send(req);
        return body;
    });
    ASSERT_EQ(streaming.get_future().wait_for(60s), std::future_status::ready);
    EXPECT_EQ(server.terminate(30s), 0) << server.stderr_text();
    const std::string body = stream.get();
    EXPECT_NE(body.find(R"("message":"the server is shutting down")"), std::string::npos) << body.substr(body.size() - 300);
    EXPECT_EQ(body.substr(body.size() - 14), "data: [DONE]\n\n");
    EXPECT_NE(server.stderr_text().find("SIGTERM: shutting down"), std::string::npos);
}

// 8 clients × 20 requests at once: whole and streamed chat and text completions, streams the
// client hangs up mid-way, malformed bodies. Every valid request is answered 200 with a finish
// reason, every bad one 400; the server stays up, its resident memory does not grow from the
// first half of the requests to the second, and under memcap its peak (page cache included)
// stays under --mem, with the experts streamed (the budget holds about a third of them).
TEST(Serve, LoadTestEightClientsStaysUpFlatAndUnderBudget) {
    const std::string memcap = memcap_if_usable();
#if defined(__SANITIZE_ADDRESS__)
    const bool sanitized = true;   // shadow memory and the quarantine of freed blocks grow the process
#else
    const bool sanitized = false;
#endif
    const bool capped = !memcap.empty() && !sanitized;
    const uint64_t budget_mib = 56;
    ServeProcess server("serve -m " + demo_model() + " --parallel 8 -c 512 --queue 64 --mem " + std::to_string(budget_mib) + "M",
                        capped ? memcap : "", "96M");
    ASSERT_GT(server.port(), 0) << server.stderr_text();

    std::atomic<int> failures{0};
    auto client_run = [&](int client, int first, int count) {
        for (int i = first; i < first + count; ++i) {
            const int kind = (client + i) % 5;
            const bool chat = i % 2 == 0;
            const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
            json body = {{"max_tokens", 12 + (i % 7)}, {"temperature", 0.7}, {"seed", client * 100 + i}};
            if (chat) body["messages"] = {{{"role", "user"}, {"content", "Tell me about Mr. Darcy, " + std::to_string(i)}}};
            else body["prompt"] = "It was a fine morning, and " + std::to_string(client);
            httplib::Client c("127.0.0.1", server.port());
            c.set_read_timeout(120, 0);
            if (kind == 0) {   // malformed
                auto r = c.Post(path.c_str(), "{\"max_tokens\": 3, " + std::to_string(i), "application/json");
                if (!r || r->status != 400) ++failures;
                continue;
            }
            if (kind == 1 || kind == 2) {   // streamed; kind 1 hangs up after three events
                body["stream"] = true;
                httplib::Request req;
                req.method = "POST";
                req.path = path;
                req.body = body.dump();
                req.set_header("Content-Type", "application/json");
                std::string got;
                int chunks = 0;
                req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
                    got.append(d, n);
                    return kind == 2 || ++chunks < 3;
                };
                auto r = c.send(req);
                if (kind == 2 && (!r || r->status != 200 || got.find("\"finish_reason\":\"") == std::string::npos ||
                                  got.substr(got.size() - 14) != "data: [DONE]\n\n"))
                    ++failures;
                continue;
            }
            auto r = c.Post(path.c_str(), body.dump(), "application/json");
            if (!r || r->status != 200 || json::parse(r->body)["choices"][0]["finish_reason"].is_null()) ++failures;
        }
    };
    auto round = [&](int first, int count) {
        std::vector<std::future<void>> clients;
        for (int c = 0; c < 8; ++c) clients.push_back(std::async(std::launch::async, client_run, c, first, count));
        for (auto& f : clients) f.get();
    };
    round(0, 10);
    const uint64_t rss_half = server.rss_kib();
    round(10, 10);
    const uint64_t rss_end = server.rss_kib();
    EXPECT_EQ(failures, 0);
    auto health = server.client().Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    if (!sanitized) {
        EXPECT_LT(rss_end, rss_half + 4096) << "resident memory grew from " << rss_half << " KiB to " << rss_end << " KiB";
    }
    // Hung-up streams end at the server's next step, which is slow under the sanitizers: every
    // slot must be free again within a bounded time, not at the instant the clients finish.
    auto all_slots_free = [&] {
        auto m = server.client().Get("/metrics");
        return m && m->body.find("sluice_active_sequences 0\n") != std::string::npos;
    };
    for (auto deadline = std::chrono::steady_clock::now() + 30s;
         !all_slots_free() && std::chrono::steady_clock::now() < deadline;)
        std::this_thread::sleep_for(100ms);
    auto metrics = server.client().Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("sluice_active_sequences 0\n"), std::string::npos) << metrics->body;
    EXPECT_NE(metrics->body.find("sluice_http_responses_total{code=\"400\"} 32\n"), std::string::npos) << metrics->body;
    EXPECT_EQ(metrics->body.find("sluice_expert_bytes_read_total 0\n"), std::string::npos) << "no expert was streamed";
    EXPECT_EQ(server.terminate(30s), 0) << server.stderr_text();
    if (!capped) GTEST_SKIP() << "memcap needs root and cgroups (and no sanitizer): the peak was not measured"
                              << (sanitized ? ", nor the memory's flatness" : "");
    const std::string err = server.stderr_text();
    const size_t at = err.find("memcap: peak MiB=");
    ASSERT_NE(at, std::string::npos) << err;
    EXPECT_LT(std::stoull(err.substr(at + 17)), budget_mib) << err;
    std::printf("serve load test: RSS %llu KiB after half the requests, %llu KiB after all; %s",
                (unsigned long long)rss_half, (unsigned long long)rss_end, err.substr(at).c_str());
}

}  // namespace
}  // namespace sluice
