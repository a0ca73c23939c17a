#include "util/json_file.h"

#include <fstream>

#include "util/error.h"

namespace sluice {

nlohmann::json read_json_file(const std::string& path) {
    std::ifstream f(path);
    if (!f) fail("{}: cannot open", path);
    try {
        return nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        fail("{}: invalid JSON: {}", path, e.what());
    }
}

}  // namespace sluice
