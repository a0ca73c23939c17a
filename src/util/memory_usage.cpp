#include "util/memory_usage.h"

#include <unistd.h>

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

}  // namespace

uint64_t peak_rss_bytes() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

uint64_t cgroup_peak_bytes() {
    std::ifstream f("/proc/self/cgroup");
    std::string line;
    while (std::getline(f, line)) {
        // v2: "0::/path"; v1: "N:memory:/path"
        auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        std::string dir, limit_file, peak_file;
        if (controllers.empty()) {
            dir = "/sys/fs/cgroup" + path;
            limit_file = "memory.max", peak_file = "memory.peak";
        } else if (controllers == "memory") {
            dir = "/sys/fs/cgroup/memory" + path;
            limit_file = "memory.limit_in_bytes", peak_file = "memory.max_usage_in_bytes";
        } else {
            continue;
        }
        // An unlimited cgroup is the machine's or a service's, shared with everything else in
        // it: its peak says nothing about this process.
        const uint64_t limit = read_number(dir + "/" + limit_file);
        if (limit == 0 || limit >= physical_memory_bytes()) return 0;
        return read_number(dir + "/" + peak_file);
    }
    return 0;
}

}  // namespace sluice
