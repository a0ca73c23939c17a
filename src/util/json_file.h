// Reading a JSON file with errors that name it (config.json, tokenizer.json, safetensors indexes).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace sluice {

// The parsed contents of `path`; throws sluice::Error "PATH: cannot open" or "PATH: invalid JSON: …".
nlohmann::json read_json_file(const std::string& path);

}  // namespace sluice
