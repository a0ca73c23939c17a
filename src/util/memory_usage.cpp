#include "util/memory_usage.h"

#include <fstream>
#include <sstream>
#include <string>

namespace sluice {

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
        std::string file;
        if (controllers.empty()) file = "/sys/fs/cgroup" + path + "/memory.peak";
        else if (controllers == "memory") file = "/sys/fs/cgroup/memory" + path + "/memory.max_usage_in_bytes";
        else continue;
        std::ifstream peak(file);
        uint64_t v = 0;
        if (peak >> v) return v;
    }
    return 0;
}

}  // namespace sluice
