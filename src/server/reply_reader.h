// Reads one request's reply from the scheduler as text: tokens through the streaming decoder
// (never half a character) and the stop strings; polls whether the client is still there while
// it waits, and cancels the generation when it is not or when a stop string matched.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/request_stream.h"
#include "server/stop_matcher.h"
#include "tokenizer/stream_decoder.h"

namespace sluice::server {

class ReplyReader {
public:
    ReplyReader(const Tokenizer& tokenizer, std::shared_ptr<RequestStream> stream, std::vector<std::string> stops)
        : decoder_(tokenizer), stop_(std::move(stops)), stream_(std::move(stream)) {}

    // Waits for the next token (asking `client_gone` before each wait of up to 100 ms) and returns the text it
    // releases, possibly empty; after the last one done() is true.
    std::string next(const std::function<bool()>& client_gone);
    // Ends the generation now (the client cannot take more).
    void cancel();

    bool done() const { return done_; }
    bool cancelled() const { return cancelled_; }                    // the client went away
    const std::string& finish_reason() const { return finish_reason_; }   // "stop" or "length"
    const std::optional<ApiError>& error() const { return error_; }
    int64_t tokens() const { return tokens_; }   // sampled, the end-of-turn token included

private:
    StreamDecoder decoder_;
    StopMatcher stop_;
    std::shared_ptr<RequestStream> stream_;
    bool done_ = false, cancelled_ = false;
    std::string finish_reason_;
    std::optional<ApiError> error_;
    int64_t tokens_ = 0;
};

}  // namespace sluice::server
