#include "tokenizer/byte_level.h"

#include <array>
#include <cstdint>

namespace sluice {

namespace {

// Bytes that are printable Latin-1 keep their code point; the other 68 take U+0100, U+0101, …
// in increasing byte order.
struct Alphabet {
    std::array<std::string, 256> symbol;
    std::array<int16_t, 0x144> byte_of;  // code point → byte, -1 outside the alphabet

    Alphabet() {
        byte_of.fill(-1);
        int next = 0x100;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const int cp = printable ? b : next++;
            byte_of[size_t(cp)] = int16_t(b);
            if (cp < 0x80) {
                symbol[size_t(b)] = std::string(1, char(cp));
            } else {
                symbol[size_t(b)] = {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
            }
        }
    }
};

const Alphabet& alphabet() {
    static const Alphabet a;
    return a;
}

}  // namespace

const std::string& byte_symbol(unsigned char b) { return alphabet().symbol[b]; }

std::optional<std::string> symbols_to_bytes(std::string_view symbols) {
    const Alphabet& a = alphabet();
    std::string out;
    out.reserve(symbols.size());
    // Every symbol is below U+0144, so it is one byte (ASCII) or two (C2..C5 lead).
    for (size_t i = 0; i < symbols.size();) {
        const auto c = static_cast<unsigned char>(symbols[i]);
        int cp;
        if (c < 0x80) {
            cp = c;
            i += 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < symbols.size() && (symbols[i + 1] & 0xC0) == 0x80) {
            cp = ((c & 0x1F) << 6) | (static_cast<unsigned char>(symbols[i + 1]) & 0x3F);
            i += 2;
        } else {
            return std::nullopt;
        }
        if (cp >= int(a.byte_of.size()) || a.byte_of[size_t(cp)] < 0) return std::nullopt;
        out += char(a.byte_of[size_t(cp)]);
    }
    return out;
}

}  // namespace sluice
