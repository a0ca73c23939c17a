// The few Python behaviours that Hugging Face chat templates lean on (they run in Jinja on
// Python), reproduced so rendered prompts match byte for byte.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace sluice {

// transformers' `tojson` filter: json.dumps(v, ensure_ascii=False) — ", " and ": "
// separators, key order kept, non-ASCII characters written as they are.
std::string py_tojson(const nlohmann::ordered_json& v);

// Jinja's `string` filter, i.e. Python's str(): strings as they are, True/False/None,
// numbers as Python prints them, containers as JSON.
std::string py_str(const nlohmann::ordered_json& v);

// Python's str.strip() with no argument (Jinja's `trim`): Unicode whitespace at both ends.
std::string_view py_strip(std::string_view s);

}  // namespace sluice
