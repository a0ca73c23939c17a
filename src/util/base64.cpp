#include "util/base64.h"

#include <cstdint>

namespace sluice {

namespace {

int value_of(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    size_t pad = 0;
    while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    uint32_t bits = 0;
    int nbits = 0;
    for (size_t i = 0; i + pad < text.size(); ++i) {
        const int v = value_of(text[i]);
        if (v < 0) return std::nullopt;
        bits = (bits << 6) | uint32_t(v);
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out += char((bits >> nbits) & 0xFF);
        }
    }
    // What is left over must be zero, so every byte string has one encoding.
    if ((bits & ((1u << nbits) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace sluice
