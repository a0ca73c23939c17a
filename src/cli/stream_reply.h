// Generates an answer and prints it as it comes: text through the streaming decoder (never
// half a character), flushed token by token, ending at the model's end-of-turn / eos token.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"

namespace sluice::cli {

struct Reply {
    std::vector<int32_t> ids;  // every sampled token, the stop token included
    std::string text;          // what was printed
    bool stopped = false;      // ended by a stop token (not by the length limit or the user)
};

// Samples up to max_tokens after what the session was fed; `cancelled` is polled before each
// token is printed. Text goes to `out` unless it is null.
Reply stream_reply(Session& session, Sampler& sampler, const Tokenizer& tokenizer, int64_t max_tokens,
                   const std::function<bool()>& cancelled, std::FILE* out);

}  // namespace sluice::cli
