// The chat templates of the supported families implemented in C++ — Qwen's (model-spec §D.3,
// §D.4), gpt-oss's harmony (tokenizer/harmony.h), GLM-4.5/4.6's and DeepSeek-V3.1's: the system
// prompt, the tools block, assistant reasoning and tool calls, tool responses and the thinking
// switch, rendering exactly what Hugging Face's Jinja rendering of the model's own chat_template gives.
#pragma once
#include <string>
#include <vector>

#include "tokenizer/chat_message.h"

namespace sluice {

enum class ChatStyle {
    Qwen3,   // Qwen3 / Qwen3-MoE / Qwen3-Next: JSON tool calls, optional empty-thought switch
    Qwen35,  // Qwen3.5: XML tool calls (<function=…>), thinking opened in the generation prompt
    Harmony, // gpt-oss (tokenizer/harmony.h): channels for analysis, final text and tool calls
    Glm45,   // GLM-4.5 / 4.6: [gMASK]<sop>, <|user|> turns, <arg_key>/<arg_value> tool calls, /nothink
    DeepSeekV3,  // DeepSeek-V3.1: <｜User｜>/<｜Assistant｜>, <think> switch, <｜tool▁call▁begin｜> calls
};

class ChatTemplate {
public:
    // Recognises which template `jinja` is; throws naming `source` when the model has no
    // template or one sluice does not implement.
    ChatTemplate(const std::string& jinja, const std::string& source);
    explicit ChatTemplate(ChatStyle style) : style_(style) {}

    ChatStyle style() const { return style_; }
    // Throws (as the Jinja template raises) on conversations the template refuses.
    std::string render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const;

private:
    ChatStyle style_;
};

}  // namespace sluice
