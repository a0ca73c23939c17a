// io_uring engine: one thread owns the ring, keeps up to queue_depth chunk reads in flight and
// reports completions to the core. New work wakes it through an eventfd whose read sits in the
// ring beside the file reads, so the thread sleeps in one place.
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "store/reader_core.h"

namespace sluice::detail {

namespace {

constexpr uint64_t kWakeTag = 0;   // user_data of the eventfd read; chunk slots are 1-based

class UringEngine : public IoEngine {
public:
    UringEngine(ReaderCore& core, io_uring ring, int efd)
        : core_(core), ring_(ring), efd_(efd), chunks_(size_t(core.options().queue_depth)) {
        for (size_t i = 0; i < chunks_.size(); ++i) free_.push_back(i);
        thread_ = std::thread([this] { loop(); });
    }

    ~UringEngine() override {
        wake();   // the core is stopping: the loop drains its reads and returns
        thread_.join();
        io_uring_queue_exit(&ring_);
        ::close(efd_);
    }

    void wake() override {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(efd_, &one, sizeof one);
    }

private:
    void arm_wake() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        io_uring_prep_read(sqe, efd_, &wake_count_, sizeof wake_count_, 0);
        io_uring_sqe_set_data64(sqe, kWakeTag);
    }

    void loop() {
        arm_wake();
        size_t in_flight = 0;
        for (;;) {
            const bool stopping = core_.stopping();
            if (stopping && in_flight == 0) return;
            Chunk c;
            while (!stopping && !free_.empty() && core_.pop(c)) {
                size_t slot = free_.back();
                free_.pop_back();
                chunks_[slot] = c;
                io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
                io_uring_prep_read(sqe, c.fd, c.dest, unsigned(c.length), c.offset);
                io_uring_sqe_set_data64(sqe, slot + 1);
                ++in_flight;
            }
            int r = io_uring_submit_and_wait(&ring_, 1);
            if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
                core_.fail_queued(fmt::format("io_uring_submit: {}", std::strerror(-r)));
            unsigned head, seen = 0;
            bool rearm = false;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                if (cqe->user_data == kWakeTag) {
                    rearm = true;
                    continue;
                }
                size_t slot = size_t(cqe->user_data - 1);
                core_.finish(chunks_[slot], cqe->res);
                free_.push_back(slot);
                --in_flight;
            }
            io_uring_cq_advance(&ring_, seen);
            if (rearm) arm_wake();
        }
    }

    ReaderCore& core_;
    io_uring ring_;
    int efd_;
    uint64_t wake_count_ = 0;
    std::vector<Chunk> chunks_;   // reads in flight, by slot
    std::vector<size_t> free_;
    std::thread thread_;
};

}  // namespace

std::unique_ptr<IoEngine> make_uring_engine(ReaderCore& core) {
    io_uring ring;
    // queue_depth reads plus the eventfd read.
    if (io_uring_queue_init(unsigned(core.options().queue_depth) + 1, &ring, 0) < 0) return nullptr;
    int efd = ::eventfd(0, EFD_CLOEXEC);
    if (efd < 0) {
        io_uring_queue_exit(&ring);
        return nullptr;
    }
    return std::make_unique<UringEngine>(core, ring, efd);
}

}  // namespace sluice::detail
