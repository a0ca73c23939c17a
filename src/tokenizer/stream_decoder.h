// Turns generated tokens into text as they arrive. A byte-level token can end inside a UTF-8
// character (an emoji is often two or three tokens), so the unfinished tail is held back until
// the next token completes it; nothing printed is ever half a character.
#pragma once
#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace sluice {

class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

    // Text that token `id` completes (possibly empty); bytes that can never form a character
    // come out as U+FFFD.
    std::string push(int32_t id);
    // Whatever is still held back, as U+FFFD; the decoder is empty afterwards.
    std::string finish();

private:
    const Tokenizer& tokenizer_;
    std::string pending_;
};

}  // namespace sluice
