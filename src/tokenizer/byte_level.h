// GPT-2's byte-level alphabet (model-spec §D.1 step 4): each byte is written as one printable
// code point, so byte-level BPE tokens are strings of these symbols ("Ġthe" = " the").
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// The symbol of byte b, UTF-8 encoded.
const std::string& byte_symbol(unsigned char b);

// The bytes that a token's symbols stand for; nullopt when a symbol is not in the alphabet.
std::optional<std::string> symbols_to_bytes(std::string_view symbols);

}  // namespace sluice
