#include "tokenizer/utf8.h"

namespace sluice {

namespace {

enum class Seq { Complete, Incomplete, Invalid };

struct SeqInfo {
    Seq kind;
    size_t len;  // bytes taken: the whole character, the valid prefix seen, or the bad part (≥ 1)
};

// Classifies the sequence at p[0..n) by RFC 3629's well-formed byte ranges. For an invalid
// sequence `len` is its maximal valid prefix (at least one byte), the unit U+FFFD replaces.
SeqInfo classify(const unsigned char* p, size_t n) {
    const unsigned char b = p[0];
    if (b < 0x80) return {Seq::Complete, 1};
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0) lo = 0xA0;        // no overlong forms
        if (b == 0xED) hi = 0x9F;        // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0) lo = 0x90;        // no overlong forms
        if (b == 0xF4) hi = 0x8F;        // nothing above U+10FFFF
    } else {
        return {Seq::Invalid, 1};
    }
    for (size_t i = 1; i < need; ++i) {
        if (i >= n) return {Seq::Incomplete, i};
        const unsigned char c = p[i];
        const bool ok = i == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
        if (!ok) return {Seq::Invalid, i};
    }
    return {Seq::Complete, need};
}

}  // namespace

size_t find_invalid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        SeqInfo q = classify(p + i, s.size() - i);
        if (q.kind != Seq::Complete) return i;
        i += q.len;
    }
    return std::string_view::npos;
}

std::string to_valid_utf8(std::string_view s) {
    if (find_invalid_utf8(s) == std::string_view::npos) return std::string(s);
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::string out;
    out.reserve(s.size() + 8);
    for (size_t i = 0; i < s.size();) {
        SeqInfo q = classify(p + i, s.size() - i);
        if (q.kind == Seq::Complete) out.append(s.data() + i, q.len);
        else out += "\xEF\xBF\xBD";
        i += q.len;
    }
    return out;
}

size_t incomplete_utf8_tail(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    // A character is at most 4 bytes, so only a lead byte among the last 3 can be unfinished.
    for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
        const size_t start = s.size() - k;
        if ((p[start] & 0xC0) == 0x80) continue;  // continuation byte: look further back
        SeqInfo q = classify(p + start, k);
        return q.kind == Seq::Incomplete && q.len == k ? k : 0;
    }
    return 0;
}

}  // namespace sluice
