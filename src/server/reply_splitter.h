// Splits a chat reply streaming in into its thinking (OpenAI-compatible servers' reasoning_content)
// and its answer, and holds back tool-call blocks, whose calls are parsed once the reply is
// complete (tokenizer/reply_parser.h); nothing released is ever part of a tag.
#pragma once
#include <string>
#include <string_view>

namespace sluice::server {

struct ReplyDelta {
    std::string reasoning, content;
};

class ReplySplitter {
public:
    // `thinking_open`: the prompt ended inside <think> (Qwen3.5's generation prompt), so the reply
    // starts as thinking; otherwise it does when it opens with <think>. `tools`: tool calls may come.
    ReplySplitter(bool thinking_open, bool tools);

    ReplyDelta push(std::string_view text);
    // The end of the reply: what was held back, but a tool-call block (the caller parses those).
    ReplyDelta finish();

private:
    enum class Phase { Start, Thinking, Answer, ToolCalls };
    void advance(ReplyDelta& out, bool final);

    Phase phase_;
    bool tools_;
    bool answer_started_ = false;   // leading newlines of the answer are dropped, as parse_reply does
    std::string held_;
};

}  // namespace sluice::server
