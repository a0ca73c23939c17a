// A persistent pool of worker threads for data-parallel loops. Workers spin briefly before
// sleeping, because decode issues thousands of small parallel loops per token and waking a
// sleeping thread costs more than most of them.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice {

class ThreadPool {
public:
    // n_threads counts the calling thread; 0 means one per hardware thread.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return int(workers_.size()) + 1; }

    // Calls fn(thread_index, begin, end) over [0, n) split into size() contiguous ranges of
    // whole `grain`-sized pieces. Returns when every range is done; if fn threw on any thread,
    // rethrows the first exception then.
    void parallel_for(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn, int64_t grain = 1);

    // One shared pool for the process, sized by set_default_threads() (default: all cores).
    static ThreadPool& global();
    // A pool of just the calling thread, for work that is already spread over a pool's threads.
    static ThreadPool& serial();
    static void set_default_threads(int n);

private:
    void worker_loop(int index);
    void run_share(int index);
    void run_share_catching(int index);

    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    bool stop_ = false;
    const std::function<void(int, int64_t, int64_t)>* job_ = nullptr;
    int64_t job_n_ = 0;
    int64_t job_grain_ = 1;
    std::exception_ptr job_error_;   // the first exception of the current job, under mu_
};

}  // namespace sluice
