// Read throughput of the store's reader for expert-sized requests, from disk (the file is
// dropped from the page cache before every iteration; reads are O_DIRECT).
//
// Uses a 4 GiB file of random-ish bytes at $SLUICE_BENCH_FILE, created if missing (default
// /var/tmp/sluice-store-bench.bin, left in place for the next run).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "store/reader.h"

namespace {

constexpr uint64_t kFileBytes = 4ull << 30;
constexpr uint64_t kBytesPerIteration = 512ull << 20;
constexpr size_t kBuffers = 32;   // requests outstanding at once (the reader caps chunks in flight)

const std::string& bench_file() {
    static const std::string path = [] {
        const char* env = std::getenv("SLUICE_BENCH_FILE");
        std::string p = env ? env : "/var/tmp/sluice-store-bench.bin";
        FILE* f = std::fopen(p.c_str(), "rb");
        if (f && (std::fseek(f, 0, SEEK_END), uint64_t(std::ftell(f)) == kFileBytes)) {
            std::fclose(f);
            return p;
        }
        if (f) std::fclose(f);
        f = std::fopen(p.c_str(), "wb");
        if (!f) {
            std::perror(p.c_str());
            std::exit(1);
        }
        std::vector<uint64_t> block((8 << 20) / 8);
        std::mt19937_64 rng(1);
        for (uint64_t at = 0; at < kFileBytes; at += block.size() * 8) {
            for (uint64_t& x : block) x = rng();
            std::fwrite(block.data(), 8, block.size(), f);
        }
        std::fclose(f);
        return p;
    }();
    return path;
}

void drop_page_cache(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
}

// args: request bytes, queue depth, backend (0 io_uring, 1 pread)
void BM_ReaderThroughput(benchmark::State& state) {
    const uint64_t request = uint64_t(state.range(0));
    sluice::ReaderOptions o;
    o.queue_depth = int(state.range(1));
    o.backend = state.range(2) == 0 ? sluice::IoBackend::Uring : sluice::IoBackend::Pread;
    o.fault.clear();
    const std::string& path = bench_file();
    sluice::Reader reader({path}, o);
    std::vector<uint8_t*> bufs(kBuffers);
    const uint64_t span = sluice::Reader::span_bytes(sluice::Reader::kAlign - 1, request);
    for (auto& b : bufs) b = static_cast<uint8_t*>(std::aligned_alloc(sluice::Reader::kAlign, span));
    std::mt19937_64 rng(42);
    const uint64_t n_requests = kBytesPerIteration / request;

    for (auto _ : state) {
        state.PauseTiming();
        drop_page_cache(path);
        state.ResumeTiming();
        uint64_t issued = 0;
        auto issue = [&](size_t buf) {
            const uint64_t offset = rng() % (kFileBytes - request);   // experts sit at any offset
            reader.submit({0, offset, request, bufs[buf], buf, true});
            ++issued;
        };
        for (size_t b = 0; b < kBuffers && issued < n_requests; ++b) issue(b);
        while (auto d = reader.wait()) {
            if (!d->ok()) {
                state.SkipWithError(d->error.c_str());
                break;
            }
            if (issued < n_requests) issue(size_t(d->tag));
        }
    }
    state.SetBytesProcessed(int64_t(state.iterations() * n_requests * request));
    state.SetLabel(reader.backend() == sluice::IoBackend::Uring ? "io_uring" : "pread");
    for (auto b : bufs) std::free(b);
}

void args(benchmark::internal::Benchmark* b) {
    for (int backend : {0, 1})
        for (int64_t size : {1'770'000, 2'650'000, 7'080'000})
            for (int qd : {1, 4, 16}) b->Args({size, qd, backend});
}

BENCHMARK(BM_ReaderThroughput)->Apply(args)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
