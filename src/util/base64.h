// Standard base64 (RFC 4648, `+` and `/`, `=` padding), as tiktoken's vocabulary files write
// each token's bytes.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// The bytes `text` encodes; nullopt when it is not canonical base64 (a character outside the
// alphabet, a length that is not a multiple of 4, misplaced padding or non-zero padding bits).
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace sluice
