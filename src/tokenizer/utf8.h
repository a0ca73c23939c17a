// UTF-8 structure checks shared by the tokenizer: validating input text, and turning token
// bytes (which may end inside a character, or hold invalid sequences) into valid text.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace sluice {

// Offset of the first byte that does not start a complete, valid UTF-8 sequence, or npos.
size_t find_invalid_utf8(std::string_view s);

// s with every maximal ill-formed subsequence replaced by U+FFFD (what Python's
// errors="replace" and Rust's from_utf8_lossy do, so decoded text matches Hugging Face's).
std::string to_valid_utf8(std::string_view s);

// How many trailing bytes of s are the valid start of a character that is not complete yet
// (0 to 3): a streaming decoder holds these back until the next token completes them.
size_t incomplete_utf8_tail(std::string_view s);

}  // namespace sluice
