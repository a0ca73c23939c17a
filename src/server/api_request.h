// The body of POST /v1/chat/completions and /v1/completions, read and checked: every field of the
// wrong type or out of range is a 400 naming it (api_error.h). Fields sluice does not use
// (user, logit_bias, ...) are ignored as OpenAI-compatible servers do; n > 1 is refused.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "tokenizer/chat_message.h"

namespace sluice::server {

constexpr size_t kMaxStopStrings = 4;   // OpenAI's limit

struct ApiRequest {
    bool chat = false;                   // /v1/chat/completions (else /v1/completions)
    std::string model;
    std::vector<ChatMessage> messages;   // chat
    ChatOptions chat_options;            // tools, enable_thinking (chat_template_kwargs)
    std::string prompt;                  // completions
    SamplerOptions sampler;
    std::optional<int64_t> max_tokens;   // unset: the rest of the context (chat), 16 (completions, as OpenAI)
    std::string max_tokens_field = "max_tokens";   // or max_completion_tokens: the name errors give
    std::vector<std::string> stop;
    bool stream = false;
    bool include_usage = false;          // stream_options.include_usage
};

// Throws ApiError (400) on malformed JSON or a bad field. Unset seeds are drawn at random.
ApiRequest parse_api_request(const std::string& body, bool chat);

}  // namespace sluice::server
