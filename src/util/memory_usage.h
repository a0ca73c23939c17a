// Peak memory of this process, and of its cgroup (which counts the page cache it causes).
#pragma once
#include <cstdint>

namespace sluice {

uint64_t peak_rss_bytes();      // VmHWM of /proc/self/status; 0 if unknown
uint64_t cgroup_peak_bytes();   // memory.peak (v2) or memory.max_usage_in_bytes (v1); 0 if unknown

}  // namespace sluice
