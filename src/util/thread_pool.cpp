#include "util/thread_pool.h"

#include <algorithm>
#include <memory>

namespace sluice {

namespace {
int g_default_threads = 0;
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        generation_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_share(int index) {
    int64_t pieces = (job_n_ + job_grain_ - 1) / job_grain_;
    int64_t per = pieces / size(), extra = pieces % size();
    int64_t first = index * per + std::min<int64_t>(index, extra);
    int64_t count = per + (index < extra ? 1 : 0);
    int64_t begin = std::min(job_n_, first * job_grain_);
    int64_t end = std::min(job_n_, (first + count) * job_grain_);
    if (begin < end) (*job_)(index, begin, end);
}

void ThreadPool::run_share_catching(int index) {
    try {
        run_share(index);
    } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!job_error_) job_error_ = std::current_exception();
    }
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
            ++spins;
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        }
        if (generation_.load(std::memory_order_acquire) == seen) {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] { return generation_.load() != seen; });
        }
        seen = generation_.load(std::memory_order_acquire);
        if (stop_) return;
        run_share_catching(index);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn, int64_t grain) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    if (workers_.empty() || n <= grain) {
        fn(0, 0, n);
        return;
    }
    job_ = &fn;
    job_n_ = n;
    job_grain_ = grain;
    pending_.store(int(workers_.size()), std::memory_order_release);
    {
        std::lock_guard<std::mutex> lock(mu_);
        generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    cv_.notify_all();
    run_share_catching(0);
    // Spin for the usual short wait, then yield: on a loaded machine a worker may be waiting
    // for this very core, and spinning on would hold it until the time slice ends.
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins < kSpinIterations) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        } else {
            std::this_thread::yield();
        }
    }
    job_ = nullptr;
    std::exception_ptr error;
    {
        std::lock_guard<std::mutex> lock(mu_);
        std::swap(error, job_error_);
    }
    if (error) std::rethrow_exception(error);
}

void ThreadPool::set_default_threads(int n) { g_default_threads = n; }

ThreadPool& ThreadPool::serial() {
    static ThreadPool pool(1);   // no workers: parallel_for runs inline and touches no state
    return pool;
}

ThreadPool& ThreadPool::global() {
    static ThreadPool pool(g_default_threads);
    return pool;
}

}  // namespace sluice
