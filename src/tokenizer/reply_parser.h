// Structure in a model's reply: its thinking (up to </think>), its answer, and the tool calls
// it made — `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>` for Qwen3,
// `<tool_call>\n<function=NAME>\n<parameter=P>\nVALUE\n</parameter>\n</function>\n</tool_call>`
// for Qwen3.5, `<tool_call>NAME\n<arg_key>P</arg_key>\n<arg_value>VALUE</arg_value>\n</tool_call>`
// for GLM-4.5, `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}<｜tool▁call▁end｜>` for DeepSeek-V3.1.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/chat_message.h"
#include "tokenizer/chat_template.h"

namespace sluice {

struct ParsedReply {
    std::string reasoning;  // the thinking, without the tags; empty when there was none
    std::string content;    // the answer with the tool-call blocks taken out
    std::vector<ToolCall> tool_calls;
};

// A block that does not parse (cut off, or malformed JSON) stays in `content` as text.
ParsedReply parse_reply(std::string_view text, ChatStyle style);

}  // namespace sluice
