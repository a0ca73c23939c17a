// Shared by the libFuzzer targets: the input written to a file (the parsers read paths), and the
// rule every target enforces: bad input may throw sluice::Error and nothing else.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace sluice::fuzz {

// A directory of this process's own under the temp dir, made once, so parallel fuzzing jobs
// (-jobs/-workers) do not overwrite each other's inputs.
inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("sluice-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
    const std::string path = (scratch_dir() / name).string();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
    return path;
}

}  // namespace sluice::fuzz
