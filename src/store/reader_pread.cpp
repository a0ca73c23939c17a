// pread engine: queue_depth threads, each taking one chunk at a time (for kernels or sandboxes
// without io_uring, or SLUICE_IO=pread).
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "store/reader_core.h"

namespace sluice::detail {

namespace {

class PreadEngine : public IoEngine {
public:
    explicit PreadEngine(ReaderCore& core) : core_(core) {
        for (int i = 0; i < core.options().queue_depth; ++i) threads_.emplace_back([this] { loop(); });
    }
    ~PreadEngine() override {
        for (std::thread& t : threads_) t.join();   // the core is stopping, which wakes them
    }
    void wake() override {}   // the core's queue notifies waiting threads itself

private:
    void loop() {
        Chunk c;
        while (!core_.stopping()) {
            if (core_.pop_wait(c)) core_.finish(c, read_chunk(c));
        }
    }

    // Bytes read (short only at end of file) or -errno.
    static int64_t read_chunk(const Chunk& c) {
        uint64_t got = 0;
        while (got < c.length) {
            ssize_t n = ::pread(c.fd, c.dest + got, c.length - got, off_t(c.offset + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return got > 0 ? int64_t(got) : -int64_t(errno);
            if (n == 0) break;
            got += uint64_t(n);
        }
        return int64_t(got);
    }

    ReaderCore& core_;
    std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<IoEngine> make_pread_engine(ReaderCore& core) { return std::make_unique<PreadEngine>(core); }

}  // namespace sluice::detail
