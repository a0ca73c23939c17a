// Paths and helpers shared by the tests: the fixtures, the built binary, temp files.
#pragma once
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <sys/wait.h>

#include "util/error.h"

namespace sluice::test {

// tests/data/fixtures, unpacked into the build tree (cmake/fixtures.cmake).
inline std::string fixture(const std::string& rel) { return std::string(SLUICE_FIXTURES_DIR) + "/" + rel; }
inline std::string source_dir() { return SLUICE_SOURCE_DIR; }
inline std::string sluice_binary() { return SLUICE_BINARY; }

// The message of the sluice::Error that f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-test-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

struct CommandResult {
    int exit_code;
    std::string out;  // stdout
    std::string err;  // stderr
};

// Runs a shell command, capturing stdout and stderr separately.
inline CommandResult run_command(const std::string& cmd) {
    TempDir tmp;
    std::string full = cmd + " >" + tmp.file("out") + " 2>" + tmp.file("err");
    int status = std::system(full.c_str());
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return {code, read_file(tmp.file("out")), read_file(tmp.file("err"))};
}

}  // namespace sluice::test
