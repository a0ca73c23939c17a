// Measures the disk and memory bandwidth and the prefill product rate the roofline needs, once per
// disk, and caches them.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
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
#include "store/reader.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace sluice {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kDiskSample = 1ull << 30;     // bytes read for the disk figure
constexpr uint64_t kMinDiskFile = 256ull << 20;  // smaller files are too short to time a disk
constexpr uint64_t kMinRead = 64ull << 10, kMaxRead = 64ull << 20;
constexpr uint64_t kDefaultRead = 1ull << 20;    // a model without routed experts
// Requests outstanding: a layer's misses are submitted together, K = 8 experts × 3 projections
// on the Qwen3 geometries; the reader keeps its queue depth of chunks in flight from them.
constexpr int kInFlight = 24;
constexpr size_t kMemBytes = 256ull << 20;

double seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Reads about kDiskSample bytes of the file as the engine reads experts: through the store's
// Reader with the engine's options (io_uring, O_DIRECT, its queue depth and chunk size), in
// requests of `read_bytes` at offsets scattered over the file (a cached prefix would flatter
// the figure), kInFlight requests outstanding. (The earlier probe, 4 threads of 4 MiB preads,
// measured 1.0–1.4 GB/s where the engine's reads reached 2.1–2.7 on the same virtual disk.)
// 0 for a file under kMinDiskFile.
double measure_disk(const std::string& path, uint64_t read_bytes) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail("{}: cannot stat to measure the disk: {}", path, std::strerror(errno));
    const uint64_t size = uint64_t(st.st_size);
    if (size < kMinDiskFile) return 0;
    read_bytes = std::clamp(read_bytes, kMinRead, kMaxRead);
    const uint64_t span = Reader::span_bytes(Reader::kAlign - 1, read_bytes);
    struct Free {
        void operator()(uint8_t* p) const { std::free(p); }
    };
    // Before the reader: destroyed after it, once no read can land in them.
    std::unique_ptr<uint8_t, Free> buffers(static_cast<uint8_t*>(std::aligned_alloc(Reader::kAlign, span * kInFlight)));
    if (!buffers) fail("{}: cannot allocate {} bytes of buffers to measure the disk", path, span * kInFlight);
    Reader reader({path});
    if (!reader.direct(0)) {
        // Read buffered (each chunk dropped after), so start with none of the file cached.
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            ::close(fd);
        }
    }
    uint64_t n_requests = std::max<uint64_t>(kDiskSample / read_bytes, kInFlight);
    if (n_requests % 7919 == 0) ++n_requests;   // so the order below visits every slot
    const uint64_t stride = (size - read_bytes) / n_requests;
    // Request i reads slot (i · 7919) mod n: neighbours in time lie far apart in the file.
    auto offset = [&](uint64_t i) { return (i * 7919 % n_requests) * stride; };

    uint64_t next = 0, bytes = 0;
    auto submit = [&](uint64_t slot) {
        reader.submit({0, offset(next++), read_bytes, buffers.get() + slot * span, slot, true});
    };
    const auto t0 = Clock::now();
    for (uint64_t slot = 0; slot < uint64_t(kInFlight); ++slot) submit(slot);
    while (auto done = reader.wait()) {
        if (!done->ok()) fail("{}: reading to measure the disk: {}", path, done->error);
        bytes += read_bytes;
        if (next < n_requests) submit(done->tag);
    }
    const double s = seconds(t0);
    return s > 0 ? double(bytes) / s : 0;
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

uint64_t expert_read_bytes(const ModelDesc& desc) {
    uint64_t most = 0;
    for (const auto& le : desc.experts)
        for (const ExpertProjection* p : {&le.gate, &le.up, &le.down})
            if (!p->experts.empty()) most = std::max(most, p->experts[0].bytes);
    return most ? most : kDefaultRead;
}

Bandwidth measured_bandwidth(const std::string& model_path, bool remeasure, uint64_t read_bytes) {
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
    // A figure from before the probe read as the engine does (no "read_bytes") or timed the
    // prefill products (no "matmul_flops") is measured again.
    const bool current = has_disk && cache[key].contains("read_bytes") && cache[key].contains("memory") &&
                         cache[key].contains("matmul_flops");
    if (!remeasure && current)
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
    Bandwidth bw{measure_disk(target, read_bytes), measure_memory(), measure_matmul()};
    nlohmann::json entry = {{"memory", bw.memory_bytes_per_s}, {"matmul_flops", bw.matmul_flops_per_s}};
    if (bw.disk_bytes_per_s > 0) {
        entry["disk"] = bw.disk_bytes_per_s;
        entry["measured_on"] = target;
        entry["read_bytes"] = read_bytes;
    } else if (has_disk) {
        // A model too small to time the disk keeps the figure an earlier, larger one measured.
        bw.disk_bytes_per_s = cache[key]["disk"].get<double>();
        for (const char* field : {"disk", "measured_on", "read_bytes"})
            if (cache[key].contains(field)) entry[field] = cache[key][field];
    } else {
        entry["disk"] = 0.0;
        entry["measured_on"] = target;
    }
    cache[key] = entry;
    std::error_code ec;
    fs::create_directories(cf.parent_path(), ec);
    if (std::ofstream out(cf); out) out << cache.dump(2) << "\n";
    return bw;
}

}  // namespace sluice
