// Asynchronous file reader for expert bytes: many reads in flight, each split into chunks,
// completions handed back in arrival order.
//
// Reads go around the page cache (DESIGN.md §5): files are opened with O_DIRECT; where the
// filesystem refuses it (at open, or with EINVAL on the first read) the file is read buffered
// and each chunk is dropped from the page cache with POSIX_FADV_DONTNEED right after.
//
// O_DIRECT wants file offset, length and buffer aligned. Rather than copying through a bounce
// buffer, a request reads the whole aligned span covering [offset, offset + length) into the
// caller's aligned buffer (span_bytes() long) and the completion points at the interior, so no
// read ever copies.
//
// Backends: io_uring (one thread drives the ring) or a pool of threads calling pread. The
// environment overrides the defaults: SLUICE_IO=pread|uring, and SLUICE_FAULT=KIND@N
// (comma-separated) makes the N-th chunk read to finish (counting from 1) fail, for tests of the
// error paths: eio (fails the request), eintr, eagain and short (retried: a chunk is read again
// up to kRetries times before its request fails), hang (the read never completes: its request
// fails once the deadline passes).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

enum class IoBackend { Uring, Pread };

struct ReaderOptions {
    IoBackend backend = default_backend();   // Uring falls back to Pread if the kernel refuses
    int queue_depth = 16;                    // chunk reads in flight (pread: threads)
    uint64_t chunk_bytes = 2ull << 20;       // large reads are split into pieces of this size
    bool direct = true;                      // false: always buffered + DONTNEED
    std::string fault = default_fault();     // see above; empty: no faults
    // A request whose reads have started and made no progress for this long fails; its buffer
    // may still be written by the stuck read (ReadDone::abandoned).
    uint64_t deadline_ms = 60000;

    static IoBackend default_backend();      // $SLUICE_IO, else Uring
    static std::string default_fault();      // $SLUICE_FAULT, else empty
};

struct ReadRequest {
    int file = 0;
    uint64_t offset = 0, length = 0;
    uint8_t* dest = nullptr;   // Reader::kAlign-aligned, at least span_bytes(offset, length) long
    uint64_t tag = 0;          // handed back in the completion
    bool urgent = true;        // false: prefetch, read only when no urgent chunk waits
};

struct ReadDone {
    uint64_t tag = 0;
    const uint8_t* data = nullptr;   // the requested bytes (inside dest); valid only if ok()
    std::string error;               // one line naming the file and offset; empty on success
    bool abandoned = false;          // failed by the deadline: a read into dest may still land
    bool ok() const { return error.empty(); }
};

struct ReaderStats {
    uint64_t bytes = 0;         // bytes transferred, alignment padding included
    uint64_t requests = 0;
    double busy_seconds = 0;    // wall time with at least one request outstanding
    double gbps() const { return busy_seconds > 0 ? double(bytes) / busy_seconds / 1e9 : 0.0; }
};

class Reader {
public:
    static constexpr uint64_t kAlign = 4096;
    static constexpr int kRetries = 3;   // re-reads of a chunk after EINTR, EAGAIN or a short read
    // Buffer bytes a request needs: the aligned span covering [offset, offset + length).
    static uint64_t span_bytes(uint64_t offset, uint64_t length) {
        return (offset % kAlign + length + kAlign - 1) / kAlign * kAlign;
    }

    // Opens every file (throws sluice::Error naming the one that cannot be opened).
    Reader(const std::vector<std::string>& paths, const ReaderOptions& options = {});
    ~Reader();   // waits for reads in flight; queued ones are dropped
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // Queues a read and returns at once. Throws on a bad file index or unaligned dest.
    void submit(const ReadRequest& request);
    // Moves a queued prefetch with this tag ahead of other prefetches (it is now needed).
    void promote(uint64_t tag);
    // Blocks for the next completed request; nullopt when none is outstanding.
    std::optional<ReadDone> wait();
    // The next completed request if there is one, without blocking.
    std::optional<ReadDone> poll();
    size_t outstanding() const;

    IoBackend backend() const;
    bool direct(int file) const;   // whether reads of this file bypass the page cache by O_DIRECT
    const std::string& path(int file) const;
    ReaderStats stats() const;
    void reset_stats();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
