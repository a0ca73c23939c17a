#include "util/size.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "util/error.h"

namespace sluice {

uint64_t parse_size(const std::string& text) {
    if (text.empty()) fail("empty size");
    const char* begin = text.c_str();
    char* end = nullptr;
    double value = std::strtod(begin, &end);
    if (end == begin || !std::isfinite(value) || value < 0) fail("bad size '{}': expected e.g. 4G, 512M or 1048576", text);
    std::string unit(end);
    if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b') && unit.size() > 1) unit.pop_back();
    if (unit == "i" || (unit.size() == 2 && unit[1] == 'i')) unit = unit.substr(0, 1);
    double mul = 1;
    if (unit.empty()) mul = 1;
    else if (unit == "K" || unit == "k") mul = 1024.0;
    else if (unit == "M" || unit == "m") mul = 1024.0 * 1024;
    else if (unit == "G" || unit == "g") mul = 1024.0 * 1024 * 1024;
    else if (unit == "T" || unit == "t") mul = 1024.0 * 1024 * 1024 * 1024;
    else fail("bad size '{}': unknown unit '{}' (use K, M, G or T)", text, unit);
    return uint64_t(std::llround(value * mul));
}

std::string format_size(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) { v /= 1024; ++u; }
    return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", v, units[u]);
}

}  // namespace sluice
