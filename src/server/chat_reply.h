// The assistant message of a whole (not streamed) chat reply in OpenAI's shape: the answer as
// content, the thinking as reasoning_content, tool calls as tool_calls (arguments as a JSON
// string) with finish_reason "tool_calls".
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/chat_template.h"
#include "tokenizer/chat_message.h"

namespace sluice::server {

// OpenAI's wire form of one call; `index` is set for stream deltas (>= 0).
nlohmann::json tool_call_json(const ToolCall& call, int index = -1);

// `text`: the reply as generated; `thinking_open`: the prompt ended inside <think>; `tools`: the
// request offered tools (else tool-call blocks stay text). Sets finish_reason to "tool_calls"
// when there are calls.
nlohmann::json chat_message_json(const std::string& text, bool thinking_open, ChatStyle style, bool tools,
                                 std::string& finish_reason);

}  // namespace sluice::server
