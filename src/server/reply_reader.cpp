#include "server/reply_reader.h"

#include <chrono>

namespace sluice::server {

void ReplyReader::cancel() {
    stream_->cancel();
    cancelled_ = done_ = true;
}

std::string ReplyReader::next(const std::function<bool()>& client_gone) {
    if (done_) return {};
    for (;;) {
        // Asked before every wait, not only after a quiet one: a fast model never keeps its
        // reader waiting 100 ms, and a client gone must still end its generation.
        if (client_gone && client_gone()) {
            cancel();
            return {};
        }
        const std::optional<StreamEvent> e = stream_->next(std::chrono::milliseconds(100));
        if (!e) continue;
        if (!e->finished) {
            ++tokens_;
            std::string text = stop_.push(decoder_.push(e->token));
            if (stop_.stopped()) {
                stream_->cancel();   // the scheduler frees the slot at its next step
                done_ = true;
                finish_reason_ = "stop";
            }
            return text;
        }
        done_ = true;
        switch (e->reason) {
        case FinishReason::Stop:
            ++tokens_;   // the end-of-turn token was sampled too
            finish_reason_ = "stop";
            break;
        case FinishReason::Length:
            finish_reason_ = "length";
            break;
        case FinishReason::Cancelled:
            cancelled_ = true;
            return {};
        case FinishReason::Error:
            // Shutting down is the server being unavailable; anything else a failure of the forward.
            error_.emplace(e->error == kShuttingDown ? 503 : 500, "server_error", e->error);
            return {};
        }
        std::string text = stop_.push(decoder_.finish());
        if (!stop_.stopped()) text += stop_.finish();
        return text;
    }
}

}  // namespace sluice::server
