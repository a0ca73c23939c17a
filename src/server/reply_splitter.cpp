#include "server/reply_splitter.h"

#include <algorithm>

namespace sluice::server {

namespace {
constexpr std::string_view kThinkOpen = "<think>", kThinkClose = "</think>", kToolOpen = "<tool_call>";

// How many bytes at the end of `text` could begin `tag` (a proper prefix of it).
size_t partial_tail(std::string_view text, std::string_view tag) {
    for (size_t n = std::min(tag.size() - 1, text.size()); n > 0; --n)
        if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
    return 0;
}
}  // namespace

ReplySplitter::ReplySplitter(bool thinking_open, bool tools)
    : phase_(thinking_open ? Phase::Thinking : Phase::Start), tools_(tools) {}

ReplyDelta ReplySplitter::push(std::string_view text) {
    held_ += text;
    ReplyDelta out;
    advance(out, false);
    return out;
}

ReplyDelta ReplySplitter::finish() {
    ReplyDelta out;
    advance(out, true);
    if (phase_ != Phase::ToolCalls) {
        (phase_ == Phase::Thinking ? out.reasoning : out.content) += held_;
        held_.clear();
    }
    return out;
}

void ReplySplitter::advance(ReplyDelta& out, bool final) {
    for (;;) {
        switch (phase_) {
        case Phase::Start: {
            // The reply thinks when it opens with <think> (after whitespace).
            const size_t lead = held_.find_first_not_of(" \n");
            if (lead == std::string::npos && !final) return;
            const std::string_view rest = lead == std::string::npos ? std::string_view() : std::string_view(held_).substr(lead);
            if (rest.substr(0, kThinkOpen.size()) == kThinkOpen) {
                held_.erase(0, lead + kThinkOpen.size());
                phase_ = Phase::Thinking;
            } else if (!final && kThinkOpen.substr(0, rest.size()) == rest) {
                return;   // may still become <think>
            } else {
                phase_ = Phase::Answer;
            }
            continue;
        }
        case Phase::Thinking: {
            if (const size_t end = held_.find(kThinkClose); end != std::string::npos) {
                out.reasoning += held_.substr(0, end);
                held_.erase(0, end + kThinkClose.size());
                phase_ = Phase::Answer;
                continue;
            }
            const size_t keep = final ? 0 : partial_tail(held_, kThinkClose);
            out.reasoning += held_.substr(0, held_.size() - keep);
            held_.erase(0, held_.size() - keep);
            return;
        }
        case Phase::Answer: {
            if (!answer_started_) {
                held_.erase(0, held_.find_first_not_of('\n') == std::string::npos ? held_.size() : held_.find_first_not_of('\n'));
                if (held_.empty()) return;
                answer_started_ = true;
            }
            if (tools_) {
                if (const size_t open = held_.find(kToolOpen); open != std::string::npos) {
                    out.content += held_.substr(0, open);
                    held_.erase(0, open);
                    phase_ = Phase::ToolCalls;
                    continue;
                }
            }
            const size_t keep = final || !tools_ ? 0 : partial_tail(held_, kToolOpen);
            out.content += held_.substr(0, held_.size() - keep);
            held_.erase(0, held_.size() - keep);
            return;
        }
        case Phase::ToolCalls:
            return;   // held until the reply is complete
        }
    }
}

}  // namespace sluice::server
