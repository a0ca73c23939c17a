// Synthetic expert files for the store tests: every byte is a function of its file offset, so
// any byte handed back can be checked without keeping a copy.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/expert_layout.h"
#include "test_support.h"

namespace sluice::test {

inline uint8_t pattern_byte(uint64_t offset) {
    uint64_t x = offset * 0x9E3779B97F4A7C15ull;
    return uint8_t(x >> 56) ^ uint8_t(offset >> 12);
}

// Index of the first byte that differs from the pattern at `offset`, or -1.
inline int64_t first_mismatch(const uint8_t* p, uint64_t offset, uint64_t length) {
    for (uint64_t i = 0; i < length; ++i)
        if (p[i] != pattern_byte(offset + i)) return int64_t(i);
    return -1;
}

inline void write_pattern_file(const std::string& path, uint64_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    std::vector<uint8_t> block(1 << 20);
    for (uint64_t at = 0; at < size; at += block.size()) {
        const size_t n = size_t(std::min<uint64_t>(block.size(), size - at));
        for (size_t i = 0; i < n; ++i) block[i] = pattern_byte(at + i);
        ASSERT_EQ(std::fwrite(block.data(), 1, n, f), n);
    }
    ASSERT_EQ(std::fclose(f), 0);
}

// Drops a file's pages from the page cache (after writing it, so reads reach the disk).
inline void drop_from_page_cache(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << path;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
}

struct SynthExperts {
    uint64_t base = 0;   // bytes before the first expert (a header)
    uint64_t gate = 0, up = 0, down = 0;
};

// A GGUF-like layout in one file: per layer, the gate of every expert, then every up, then
// every down. With an odd base and odd sizes, nearly every offset is unaligned.
inline ExpertLayout synth_layout(const std::string& path, int layers, int experts, const SynthExperts& s,
                                 uint64_t* file_size = nullptr) {
    ExpertLayout layout({path}, layers, experts);
    uint64_t at = s.base;
    for (int l = 0; l < layers; ++l) {
        const uint64_t gate0 = at, up0 = gate0 + s.gate * uint64_t(experts), down0 = up0 + s.up * uint64_t(experts);
        for (int e = 0; e < experts; ++e)
            layout.set(l, e, {{0, gate0 + s.gate * uint64_t(e), s.gate}, {0, up0 + s.up * uint64_t(e), s.up},
                              {0, down0 + s.down * uint64_t(e), s.down}});
        at = down0 + s.down * uint64_t(experts);
    }
    if (file_size) *file_size = at;
    return layout;
}

// Writes the file for synth_layout and returns the layout.
inline ExpertLayout make_synth(const std::string& path, int layers, int experts, const SynthExperts& s) {
    uint64_t size = 0;
    ExpertLayout layout = synth_layout(path, layers, experts, s, &size);
    write_pattern_file(path, size);
    return layout;
}

// Runs fn on another thread; if it has not returned within `seconds`, the whole test binary
// fails at once instead of hanging.
inline void within_seconds(int seconds, const std::function<void()>& fn) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::exception_ptr error;
    std::thread t([&] {
        try {
            fn();
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard lk(mu);
        done = true;
        cv.notify_all();
    });
    {
        std::unique_lock lk(mu);
        if (!cv.wait_for(lk, std::chrono::seconds(seconds), [&] { return done; })) {
            std::fprintf(stderr, "FATAL: test body still running after %d s (hang)\n", seconds);
            std::_Exit(2);
        }
    }
    t.join();
    if (error) std::rethrow_exception(error);
}

}  // namespace sluice::test
