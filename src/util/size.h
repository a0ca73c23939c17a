// Human-readable byte sizes: "4G", "512M", "1.5G", or a plain byte count (powers of 1024).
#pragma once
#include <cstdint>
#include <string>

namespace sluice {

uint64_t parse_size(const std::string& text);   // throws Error on bad input
std::string format_size(uint64_t bytes);        // "1.50 GiB"

}  // namespace sluice
