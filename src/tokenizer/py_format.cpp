#include "tokenizer/py_format.h"

#include <utf8proc.h>

namespace sluice {

namespace {

// str.isspace(): bidirectional class WS, B or S, or category Zs (the Python docs' definition).
bool is_py_space(utf8proc_int32_t cp) {
    const utf8proc_property_t* p = utf8proc_get_property(cp);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

// Length of the character at s[i], and whether it is whitespace (invalid bytes are not).
size_t char_at(std::string_view s, size_t i, bool& space) {
    utf8proc_int32_t cp = -1;
    const utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                                utf8proc_ssize_t(s.size() - i), &cp);
    space = n > 0 && is_py_space(cp);
    return n > 0 ? size_t(n) : 1;
}

}  // namespace

std::string py_tojson(const nlohmann::ordered_json& v) {
    if (v.is_object()) {
        std::string out = "{";
        bool first = true;
        for (const auto& [key, value] : v.items()) {
            out += first ? "" : ", ";
            out += nlohmann::ordered_json(key).dump() + ": " + py_tojson(value);
            first = false;
        }
        return out + "}";
    }
    if (v.is_array()) {
        std::string out = "[";
        for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + py_tojson(v[i]);
        return out + "]";
    }
    return v.dump();
}

std::string py_str(const nlohmann::ordered_json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
    if (v.is_null()) return "None";
    return py_tojson(v);
}

std::string_view py_strip(std::string_view s) {
    size_t begin = 0;
    while (begin < s.size()) {
        bool space;
        size_t n = char_at(s, begin, space);
        if (!space) break;
        begin += n;
    }
    size_t end = begin;  // end of the last non-space character
    for (size_t i = begin; i < s.size();) {
        bool space;
        size_t n = char_at(s, i, space);
        i += n;
        if (!space) end = i;
    }
    return s.substr(begin, end - begin);
}

}  // namespace sluice
