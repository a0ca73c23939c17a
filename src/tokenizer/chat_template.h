// The Qwen chat templates (model-spec §D.3, §D.4) and gpt-oss's harmony (tokenizer/harmony.h) implemented in C++: ChatML turns, the system
// prompt, the tools block, assistant reasoning and tool calls, grouped tool responses and the
// thinking switch, rendering exactly what Hugging Face's Jinja rendering of the model's own
// chat_template gives.
#pragma once
#include <string>
#include <vector>

#include "tokenizer/chat_message.h"

namespace sluice {

enum class ChatStyle {
    Qwen3,   // Qwen3 / Qwen3-MoE / Qwen3-Next: JSON tool calls, optional empty-thought switch
    Qwen35,  // Qwen3.5: XML tool calls (<function=…>), thinking opened in the generation prompt
    Harmony, // gpt-oss (tokenizer/harmony.h): channels for analysis, final text and tool calls
};

class ChatTemplate {
public:
    // Recognises which Qwen template `jinja` is, or gpt-oss's; throws naming `source` when the
    // model has no template or another one.
    ChatTemplate(const std::string& jinja, const std::string& source);
    explicit ChatTemplate(ChatStyle style) : style_(style) {}

    ChatStyle style() const { return style_; }
    // Throws (as the Jinja template raises) on conversations the template refuses.
    std::string render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const;

private:
    ChatStyle style_;
};

}  // namespace sluice
