// Peak memory of this process, and of its cgroup (which counts the page cache it causes).
#pragma once
#include <cstdint>

namespace sluice {

uint64_t peak_rss_bytes();      // VmHWM of /proc/self/status; 0 if unknown
// memory.peak (v2) or memory.max_usage_in_bytes (v1) of a cgroup with a memory limit below the
// machine's RAM (as tools/memcap makes); 0 if unknown or the cgroup is unlimited.
uint64_t cgroup_peak_bytes();
// Memory this process could still take: MemAvailable of /proc/meminfo (free memory plus
// reclaimable page cache), within the limit of a limited cgroup (usage counted in full).
uint64_t available_memory_bytes();

}  // namespace sluice
