// Measures the disk and memory bandwidth and the prefill product rate the roofline needs, once per
// disk, and caches them.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "kernels/matmul.h"
#include "quant/row_conversions.h"
#include "quant/types.h"
#include "runtime/planner.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace sluice {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kRequest = 4ull << 20;        // expert-sized reads
constexpr uint64_t kDiskSample = 1ull << 30;     // bytes read for the disk figure
constexpr uint64_t kMinDiskFile = 256ull << 20;  // smaller files are too short to time a disk
constexpr size_t kMemBytes = 256ull << 20;

double seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Reads up to kDiskSample bytes of the file in large direct reads from 4 threads, spread over
// the file so a cached prefix does not flatter the figure. 0 for a file under kMinDiskFile.
double measure_disk(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    bool direct = fd >= 0;
    if (!direct) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("{}: cannot open to measure the disk: {}", path, std::strerror(errno));
    struct stat st {};
    ::fstat(fd, &st);
    const uint64_t size = uint64_t(st.st_size) / kRequest * kRequest;
    if (size < kMinDiskFile) {
        ::close(fd);
        return 0;
    }
    if (!direct) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    const uint64_t n_requests = std::min(size, kDiskSample) / kRequest;
    const uint64_t stride = size / kRequest / n_requests;
    std::atomic<uint64_t> next{0}, bytes{0};
    auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            void* buf = nullptr;
            if (posix_memalign(&buf, 4096, kRequest) != 0) return;
            for (uint64_t i; (i = next++) < n_requests;) {
                ssize_t got = ::pread(fd, buf, kRequest, off_t(i * stride * kRequest));
                if (got > 0) bytes += uint64_t(got);
            }
            std::free(buf);
        });
    for (auto& t : threads) t.join();
    double s = seconds(t0);
    if (!direct) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
    return s > 0 ? double(bytes.load()) / s : 0;
}

double measure_memory() {
    std::vector<float> buf(kMemBytes / sizeof(float), 1.0f);
    ThreadPool& pool = ThreadPool::global();
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<double> partial(size_t(pool.size()), 0.0);
        auto t0 = Clock::now();
        pool.parallel_for(int64_t(buf.size()), [&](int th, int64_t b, int64_t e) {
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int64_t i = b; i + 4 <= e; i += 4) {
                s0 += buf[size_t(i)];
                s1 += buf[size_t(i + 1)];
                s2 += buf[size_t(i + 2)];
                s3 += buf[size_t(i + 3)];
            }
            partial[size_t(th)] = s0 + s1 + s2 + s3;
        }, 1 << 16);
        double s = seconds(t0);
        double sum = 0;
        for (double p : partial) sum += p;
        if (sum > 0 && s > 0) best = std::max(best, double(kMemBytes) / s);
    }
    return best;
}

// Prefill's products: an expert-sized Q4_K weight (768 × 2048, random) times 32 tokens (what
// one expert gets of a 512-token ubatch at K/E = 1/16) on all threads, the best of 5;
// 2 · rows · cols · tokens operations each.
double measure_matmul() {
    const int64_t rows = 768, cols = 2048, tokens = 32;
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> w(size_t(rows * cols)), x(size_t(tokens * cols)), y(size_t(tokens * rows));
    for (float& v : w) v = normal(rng);
    for (float& v : x) v = normal(rng);
    std::vector<uint8_t> q(row_bytes(GgmlType::Q4_K, cols) * size_t(rows));
    quant::quantize_q4_k(w.data(), q.data(), rows * cols);
    const Weight weight{GgmlType::Q4_K, q.data(), rows, cols};
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        auto t0 = Clock::now();
        matmul(weight, x.data(), tokens, y.data());
        const double s = seconds(t0);
        if (s > 0) best = std::max(best, 2.0 * double(rows * cols * tokens) / s);
    }
    return best;
}

fs::path cache_file() {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    fs::path base = xdg ? fs::path(xdg) : home ? fs::path(home) / ".cache" : fs::temp_directory_path();
    return base / "sluice" / "bandwidth.json";
}

}  // namespace

Bandwidth measured_bandwidth(const std::string& model_path, bool remeasure) {
    fs::path file = fs::is_directory(model_path) ? fs::path(model_path) / "config.json" : fs::path(model_path);
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) fail("{}: cannot stat", file.string());
    const std::string key = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));

    nlohmann::json cache = nlohmann::json::object();
    const fs::path cf = cache_file();
    if (std::ifstream in(cf); in) {
        try {
            cache = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception&) {
            cache = nlohmann::json::object();  // a damaged cache is re-measured
        }
    }
    const bool has_disk = cache.contains(key) && cache[key].contains("disk") && cache[key]["disk"].get<double>() > 0;
    if (!remeasure && has_disk && cache[key].contains("memory") && cache[key].contains("matmul_flops"))
        return {cache[key]["disk"].get<double>(), cache[key]["memory"].get<double>(),
                cache[key]["matmul_flops"].get<double>()};

    // Measure on the largest model file (a directory's safetensors shard).
    std::string target = file.string();
    if (fs::is_directory(model_path)) {
        uint64_t best = 0;
        for (const auto& e : fs::directory_iterator(model_path))
            if (e.path().extension() == ".safetensors" && e.file_size() > best) {
                best = e.file_size();
                target = e.path().string();
            }
    }
    Bandwidth bw{measure_disk(target), measure_memory(), measure_matmul()};
    // A model too small to time the disk keeps the figure an earlier, larger one measured.
    if (bw.disk_bytes_per_s <= 0 && has_disk) {
        bw.disk_bytes_per_s = cache[key]["disk"].get<double>();
        target = cache[key].value("measured_on", target);
    }
    cache[key] = {{"disk", bw.disk_bytes_per_s}, {"memory", bw.memory_bytes_per_s}, {"matmul_flops", bw.matmul_flops_per_s},
                  {"measured_on", target}};
    std::error_code ec;
    fs::create_directories(cf.parent_path(), ec);
    if (std::ofstream out(cf); out) out << cache.dump(2) << "\n";
    return bw;
}

}  // namespace sluice
