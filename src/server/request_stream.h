// The channel between one HTTP request and the scheduler: the scheduler pushes the request's
// sampled tokens and its end; the request's thread waits for them and may cancel (the client went
// away, a stop string matched), which the scheduler notices at its next step.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace sluice::server {

// The error of every request the server's shutdown ends.
inline constexpr const char* kShuttingDown = "the server is shutting down";

enum class FinishReason {
    Stop,       // the model's end-of-turn / eos token
    Length,     // max_tokens reached, or the context full
    Cancelled,  // the request cancelled itself
    Error,      // the forward failed, or the server is shutting down: `error` says which
};

struct StreamEvent {
    bool finished = false;
    int32_t token = -1;                         // when !finished
    FinishReason reason = FinishReason::Stop;   // when finished
    std::string error;                          // when reason == Error
};

class RequestStream {
public:
    // Scheduler side.
    void push_token(int32_t id) { push({false, id, FinishReason::Stop, {}}); }
    void finish(FinishReason reason, std::string error = {}) { push({true, -1, reason, std::move(error)}); }

    // Request side: the next event, or nothing when `timeout` passed first (the caller then
    // checks its client).
    std::optional<StreamEvent> next(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
        StreamEvent e = std::move(events_.front());
        events_.pop_front();
        return e;
    }
    void cancel() { cancelled_ = true; }
    bool cancelled() const { return cancelled_; }

private:
    void push(StreamEvent e) {
        {
            std::lock_guard lock(mutex_);
            events_.push_back(std::move(e));
        }
        ready_.notify_one();
    }

    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<StreamEvent> events_;
    std::atomic<bool> cancelled_{false};
};

}  // namespace sluice::server
