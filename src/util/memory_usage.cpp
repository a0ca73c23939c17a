#include "util/memory_usage.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice {

namespace {

// The number in a cgroup file ("max" and unreadable files read as 0).
uint64_t read_number(const std::string& file) {
    std::ifstream f(file);
    uint64_t v = 0;
    return f >> v ? v : 0;
}

uint64_t physical_memory_bytes() { return uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE)); }

// The memory cgroup of this process with a limit below the machine's RAM (as memcap makes):
// the directory and the names of its limit, usage and peak files; empty when there is none.
struct LimitedCgroup {
    std::string dir, limit_file, usage_file, peak_file;
    uint64_t limit = 0;
};

LimitedCgroup limited_cgroup() {
    std::ifstream f("/proc/self/cgroup");
    std::string line;
    while (std::getline(f, line)) {
        // v2: "0::/path"; v1: "N:memory:/path"
        auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        LimitedCgroup g;
        if (controllers.empty()) {
            g = {"/sys/fs/cgroup" + path, "memory.max", "memory.current", "memory.peak"};
        } else if (controllers == "memory") {
            g = {"/sys/fs/cgroup/memory" + path, "memory.limit_in_bytes", "memory.usage_in_bytes",
                 "memory.max_usage_in_bytes"};
        } else {
            continue;
        }
        // An unlimited cgroup is the machine's or a service's, shared with everything else in
        // it: its figures say nothing about this process.
        g.limit = read_number(g.dir + "/" + g.limit_file);
        if (g.limit == 0 || g.limit >= physical_memory_bytes()) return {};
        return g;
    }
    return {};
}

}  // namespace

uint64_t peak_rss_bytes() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

uint64_t cgroup_peak_bytes() {
    const LimitedCgroup g = limited_cgroup();
    return g.limit ? read_number(g.dir + "/" + g.peak_file) : 0;
}

uint64_t available_memory_bytes() {
    uint64_t available = 0;
    std::ifstream f("/proc/meminfo");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("MemAvailable:", 0) == 0) available = std::stoull(line.substr(13)) * 1024;
    if (const LimitedCgroup g = limited_cgroup(); g.limit) {
        // The cgroup's usage includes reclaimable page cache, so this is a lower bound.
        const uint64_t used = read_number(g.dir + "/" + g.usage_file);
        available = std::min(available, g.limit > used ? g.limit - used : 0);
    }
    return available;
}

}  // namespace sluice
