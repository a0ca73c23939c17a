// Internal to the reader: the bookkeeping both I/O engines share. Requests are split into
// chunks that wait in two queues (urgent, prefetch); an engine takes chunks, reads them and
// reports each result here, which checks it, injects faults, drops buffered pages, and
// completes a request once all its chunks are back.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "store/reader.h"

namespace sluice::detail {

struct OpenFile {
    std::string path;
    int fd_direct = -1;    // O_DIRECT descriptor, -1 if refused
    int fd_buffered = -1;
    bool direct = false;   // reads use fd_direct
};

struct Chunk {
    uint64_t request = 0;
    int file = 0;
    int fd = -1;
    bool direct = false;
    uint64_t offset = 0, length = 0;
    uint64_t need = 0;     // leading bytes of this chunk the request needs (rest is padding)
    uint8_t* dest = nullptr;
    int retries = 0;       // times this chunk was read again (EINTR, EAGAIN, short)
};

class ReaderCore {
public:
    ReaderCore(const std::vector<std::string>& paths, const ReaderOptions& options);
    ~ReaderCore();

    // Caller side.
    void submit(const ReadRequest& r);
    void promote(uint64_t tag);
    std::optional<ReadDone> wait(bool block);
    size_t outstanding() const;

    // Engine side. pop() takes the next chunk, urgent first; pop_wait() blocks for one and
    // returns false once stopping. finish() takes the byte count or -errno.
    bool pop(Chunk& c);
    bool pop_wait(Chunk& c);
    void finish(const Chunk& c, int64_t result);
    // Completes every queued chunk with this error (the engine cannot go on).
    void fail_queued(const std::string& why);
    bool stopping() const;
    void stop();

    const ReaderOptions& options() const { return options_; }
    const OpenFile& file(int i) const;   // path and descriptors; `direct` may change: use direct()
    bool direct(int i) const;
    ReaderStats stats() const;
    void reset_stats();

private:
    using Clock = std::chrono::steady_clock;
    struct Request {
        uint64_t tag;
        const uint8_t* data;
        size_t chunks_left;
        std::string error;
        int file;
        uint64_t offset, length;
        Clock::time_point deadline = Clock::time_point::max();   // set when a chunk starts
    };
    enum class FaultKind { Eio, Eintr, Eagain, Short, Hang };
    struct Fault {
        uint64_t at;
        FaultKind kind;
    };

    std::string check(const Chunk& c, int64_t result) const;
    void expire_overdue();   // under mu_
    void complete_chunk(uint64_t request, uint64_t bytes, const std::string& error);   // under mu_

    ReaderOptions options_;
    std::vector<OpenFile> files_;
    std::vector<Fault> faults_;

    mutable std::mutex mu_;
    std::condition_variable work_cv_, done_cv_;
    std::deque<Chunk> urgent_, background_;
    std::unordered_map<uint64_t, Request> requests_;
    std::deque<ReadDone> done_;
    uint64_t next_request_ = 1;
    uint64_t chunks_finished_ = 0;
    bool stop_ = false;

    ReaderStats stats_;
    Clock::time_point busy_since_;
};

// An engine moves chunks from the core to the disk and back; its destructor returns once the
// reads it started are finished (the core is stopped first).
class IoEngine {
public:
    virtual ~IoEngine() = default;
    virtual void wake() = 0;   // new chunks are queued
};

std::unique_ptr<IoEngine> make_uring_engine(ReaderCore& core);   // nullptr if io_uring is unavailable
std::unique_ptr<IoEngine> make_pread_engine(ReaderCore& core);

}  // namespace sluice::detail
