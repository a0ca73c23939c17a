// gpt-oss's chat format, harmony, as its chat template renders it (llama.cpp's
// models/templates/openai-gpt-oss-120b.jinja, Hugging Face's apply_chat_template): a system
// message (identity, knowledge cutoff, date, reasoning effort, channels), the first system or
// developer message and the tools as TypeScript signatures in a developer message, then
// `<|start|>ROLE<|message|>…<|end|>` turns with the assistant's answers on the final channel,
// its tool calls on the commentary channel (`to=functions.NAME`) and their reasoning on the
// analysis channel while no later answer exists. And the reply parser for what gpt-oss writes.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/chat_message.h"
#include "tokenizer/reply_parser.h"

namespace sluice {

// Throws (as the template raises) on channel tags inside content or thinking, content and
// thinking both given with a tool call, and a tool message with no call before it.
std::string render_harmony(const std::vector<ChatMessage>& messages, const ChatOptions& options);

// A reply after the generation prompt `<|start|>assistant`: messages separated by `<|start|>`,
// each a header (`assistant`, `<|channel|>NAME`, `to=RECIPIENT`, `<|constrain|>TYPE`) and a body
// after `<|message|>` up to `<|end|>`, `<|return|>` or `<|call|>`. The analysis channel is the
// reasoning, the final channel (and commentary addressed to no one) the content, and a message
// to `functions.NAME` a tool call whose body is its JSON arguments (kept as a string when it
// does not parse). Text outside any message stays in the content.
ParsedReply parse_harmony_reply(std::string_view text);

}  // namespace sluice
