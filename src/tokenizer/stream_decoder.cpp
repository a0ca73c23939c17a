#include "tokenizer/stream_decoder.h"

#include "tokenizer/utf8.h"

namespace sluice {

std::string StreamDecoder::push(int32_t id) {
    pending_ += tokenizer_.token_bytes(id);
    const size_t keep = incomplete_utf8_tail(pending_);
    std::string out = to_valid_utf8(std::string_view(pending_).substr(0, pending_.size() - keep));
    pending_.erase(0, pending_.size() - keep);
    return out;
}

std::string StreamDecoder::finish() {
    std::string out = to_valid_utf8(pending_);
    pending_.clear();
    return out;
}

}  // namespace sluice
