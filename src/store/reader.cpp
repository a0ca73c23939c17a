#include "store/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "store/reader_core.h"
#include "util/error.h"

namespace sluice {

IoBackend ReaderOptions::default_backend() {
    const char* env = std::getenv("SLUICE_IO");
    if (!env || !*env || std::strcmp(env, "uring") == 0) return IoBackend::Uring;
    if (std::strcmp(env, "pread") == 0) return IoBackend::Pread;
    fail("SLUICE_IO: expected 'uring' or 'pread', got '{}'", env);
}

std::string ReaderOptions::default_fault() {
    const char* env = std::getenv("SLUICE_FAULT");
    return env ? env : "";
}

namespace detail {

namespace {

// "eio@3,short@7" → faults on the 3rd and 7th chunk.
std::vector<std::pair<uint64_t, std::string>> parse_faults(const std::string& spec) {
    std::vector<std::pair<uint64_t, std::string>> out;
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
        size_t at = item.find('@');
        std::string kind = item.substr(0, at);
        char* end = nullptr;
        unsigned long long n = at == std::string::npos ? 0 : std::strtoull(item.c_str() + at + 1, &end, 10);
        const bool known = kind == "eio" || kind == "eintr" || kind == "eagain" || kind == "short" || kind == "hang";
        if (!known || n == 0 || !end || *end)
            fail("SLUICE_FAULT: expected eio@N, eintr@N, eagain@N, short@N or hang@N (N >= 1), got '{}'", item);
        out.emplace_back(n, kind);
    }
    return out;
}

OpenFile open_file(const std::string& path, bool want_direct) {
    OpenFile f;
    f.path = path;
    f.fd_buffered = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd_buffered < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(f.fd_buffered, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(f.fd_buffered);
        fail("{}: not a regular file", path);
    }
    // Expert reads are scattered; readahead would pull neighbouring experts into the page cache.
    ::posix_fadvise(f.fd_buffered, 0, 0, POSIX_FADV_RANDOM);
    if (want_direct) {
        f.fd_direct = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
        f.direct = f.fd_direct >= 0;   // EINVAL: the filesystem has no O_DIRECT
    }
    return f;
}

}  // namespace

ReaderCore::ReaderCore(const std::vector<std::string>& paths, const ReaderOptions& options) : options_(options) {
    if (paths.empty()) fail("reader: no files");
    options_.queue_depth = std::max(1, options_.queue_depth);
    options_.chunk_bytes = std::max<uint64_t>(1, (options_.chunk_bytes + Reader::kAlign - 1) / Reader::kAlign) * Reader::kAlign;
    for (const auto& [at, kind] : parse_faults(options_.fault))
        faults_.push_back({at, kind == "eio"      ? FaultKind::Eio
                               : kind == "eintr"  ? FaultKind::Eintr
                               : kind == "eagain" ? FaultKind::Eagain
                               : kind == "short"  ? FaultKind::Short
                                                  : FaultKind::Hang});
    try {
        for (const std::string& p : paths) files_.push_back(open_file(p, options_.direct));
    } catch (...) {
        for (OpenFile& f : files_) {
            if (f.fd_direct >= 0) ::close(f.fd_direct);
            ::close(f.fd_buffered);
        }
        throw;
    }
}

ReaderCore::~ReaderCore() {
    for (OpenFile& f : files_) {
        if (f.fd_direct >= 0) ::close(f.fd_direct);
        ::close(f.fd_buffered);
    }
}

void ReaderCore::submit(const ReadRequest& r) {
    if (r.file < 0 || size_t(r.file) >= files_.size()) fail("reader: file index {} of {}", r.file, files_.size());
    if (reinterpret_cast<uintptr_t>(r.dest) % Reader::kAlign != 0)
        fail("reader: destination buffer for {} is not {}-byte aligned", files_[size_t(r.file)].path, Reader::kAlign);
    const uint64_t lead = r.offset % Reader::kAlign;
    const uint64_t start = r.offset - lead;
    const uint64_t span = Reader::span_bytes(r.offset, r.length);
    const uint64_t need_end = lead + r.length;   // relative to start
    const uint64_t cb = options_.chunk_bytes;
    const size_t n_chunks = r.length == 0 ? 0 : size_t((span + cb - 1) / cb);

    std::lock_guard lk(mu_);
    if (requests_.empty()) busy_since_ = Clock::now();
    const uint64_t id = next_request_++;
    requests_[id] = Request{r.tag, r.dest + lead, n_chunks, {}, r.file, r.offset, r.length};
    ++stats_.requests;
    if (n_chunks == 0) {
        complete_chunk(id, 0, {});
        return;
    }
    auto& queue = r.urgent ? urgent_ : background_;
    for (size_t i = 0; i < n_chunks; ++i) {
        Chunk c;
        c.request = id;
        c.file = r.file;
        c.offset = start + i * cb;
        c.length = std::min(cb, span - i * cb);
        c.need = need_end > i * cb ? std::min(c.length, need_end - i * cb) : 0;
        c.dest = r.dest + i * cb;
        queue.push_back(c);
    }
    work_cv_.notify_all();
}

void ReaderCore::promote(uint64_t tag) {
    std::lock_guard lk(mu_);
    auto is_tag = [&](const Chunk& c) { return requests_.at(c.request).tag == tag; };
    auto mid = std::stable_partition(background_.begin(), background_.end(), [&](const Chunk& c) { return !is_tag(c); });
    urgent_.insert(urgent_.end(), mid, background_.end());
    background_.erase(mid, background_.end());
}

std::optional<ReadDone> ReaderCore::wait(bool block) {
    std::unique_lock lk(mu_);
    expire_overdue();
    while (block && done_.empty() && !requests_.empty()) {
        Clock::time_point next = Clock::time_point::max();
        for (const auto& [id, r] : requests_) next = std::min(next, r.deadline);
        if (next == Clock::time_point::max()) done_cv_.wait(lk);
        else done_cv_.wait_until(lk, next);
        expire_overdue();
    }
    if (done_.empty()) return std::nullopt;
    ReadDone d = std::move(done_.front());
    done_.pop_front();
    return d;
}

size_t ReaderCore::outstanding() const {
    std::lock_guard lk(mu_);
    return requests_.size() + done_.size();
}

bool ReaderCore::pop(Chunk& c) {
    std::lock_guard lk(mu_);
    auto it = requests_.end();
    while (it == requests_.end()) {   // skipping retries of requests the deadline failed
        if (stop_ || (urgent_.empty() && background_.empty())) return false;
        auto& queue = urgent_.empty() ? background_ : urgent_;
        c = queue.front();
        queue.pop_front();
        it = requests_.find(c.request);
    }
    Request& r = it->second;
    if (r.deadline == Clock::time_point::max())
        r.deadline = Clock::now() + std::chrono::milliseconds(options_.deadline_ms);
    const OpenFile& f = files_[size_t(c.file)];
    c.direct = f.direct;
    c.fd = f.direct ? f.fd_direct : f.fd_buffered;
    return true;
}

bool ReaderCore::pop_wait(Chunk& c) {
    {
        std::unique_lock lk(mu_);
        work_cv_.wait(lk, [&] { return stop_ || !urgent_.empty() || !background_.empty(); });
    }
    return pop(c);   // false if stopping or another worker took it (the caller loops)
}

void ReaderCore::finish(const Chunk& c, int64_t result) {
    if (!c.direct && result > 0) ::posix_fadvise(c.fd, off_t(c.offset), off_t(c.length), POSIX_FADV_DONTNEED);
    std::lock_guard lk(mu_);
    if (c.direct && result == -EINVAL) {
        // The filesystem took O_DIRECT at open but refuses the read: go buffered from now on.
        files_[size_t(c.file)].direct = false;
        urgent_.push_front(c);
        work_cv_.notify_one();
        return;
    }
    ++chunks_finished_;
    for (const Fault& f : faults_) {
        if (f.at != chunks_finished_) continue;
        switch (f.kind) {
            case FaultKind::Eio: result = -EIO; break;
            case FaultKind::Eintr: result = -EINTR; break;
            case FaultKind::Eagain: result = -EAGAIN; break;
            case FaultKind::Short: result = std::min<int64_t>(result, int64_t(c.need / 2)); break;
            case FaultKind::Hang: return;   // never reported: the deadline fails the request
        }
    }
    auto it = requests_.find(c.request);
    if (it == requests_.end()) return;   // failed by the deadline while this chunk was read
    // Interrupted, would-block and short reads (io_uring may return part of a buffered read)
    // are read again; at end of file the retries come back short too and the request fails.
    const bool retryable = result == -EINTR || result == -EAGAIN || (result >= 0 && uint64_t(result) < c.need);
    if (retryable && c.retries < Reader::kRetries) {
        Chunk again = c;
        ++again.retries;
        urgent_.push_front(again);
        it->second.deadline = Clock::now() + std::chrono::milliseconds(options_.deadline_ms);
        work_cv_.notify_one();
        return;
    }
    it->second.deadline = Clock::now() + std::chrono::milliseconds(options_.deadline_ms);   // progress
    complete_chunk(c.request, uint64_t(std::max<int64_t>(result, 0)), check(c, result));
}

void ReaderCore::expire_overdue() {
    const Clock::time_point now = Clock::now();
    std::vector<uint64_t> overdue;
    for (const auto& [id, r] : requests_)
        if (r.deadline <= now) overdue.push_back(id);
    if (overdue.empty()) return;
    for (uint64_t id : overdue) {
        const Request& r = requests_.at(id);
        for (auto* queue : {&urgent_, &background_})
            queue->erase(std::remove_if(queue->begin(), queue->end(), [&](const Chunk& c) { return c.request == id; }),
                         queue->end());
        ReadDone d{r.tag, nullptr,
                   fmt::format("{}: read of {} bytes at offset {} did not complete within {} ms", files_[size_t(r.file)].path,
                               r.length, r.offset, options_.deadline_ms)};
        d.abandoned = true;
        done_.push_back(std::move(d));
        requests_.erase(id);
    }
    if (requests_.empty()) stats_.busy_seconds += std::chrono::duration<double>(now - busy_since_).count();
    done_cv_.notify_all();
}

std::string ReaderCore::check(const Chunk& c, int64_t result) const {
    const std::string& path = files_[size_t(c.file)].path;
    if (result < 0)
        return fmt::format("{}: read of {} bytes at offset {} failed: {}", path, c.length, c.offset, std::strerror(int(-result)));
    if (uint64_t(result) < c.need)
        return fmt::format("{}: short read at offset {}: got {} of {} bytes (file truncated or changed while open?)",
                           path, c.offset, result, c.need);
    return {};
}

void ReaderCore::complete_chunk(uint64_t request, uint64_t bytes, const std::string& error) {
    stats_.bytes += bytes;
    auto it = requests_.find(request);
    if (it == requests_.end()) return;   // failed by the deadline
    Request& r = it->second;
    if (!error.empty() && r.error.empty()) r.error = error;
    if (r.chunks_left > 0 && --r.chunks_left > 0) return;
    done_.push_back(ReadDone{r.tag, r.error.empty() ? r.data : nullptr, r.error});
    requests_.erase(request);
    if (requests_.empty()) stats_.busy_seconds += std::chrono::duration<double>(Clock::now() - busy_since_).count();
    done_cv_.notify_all();
}

void ReaderCore::fail_queued(const std::string& why) {
    std::lock_guard lk(mu_);
    for (auto* queue : {&urgent_, &background_}) {
        for (const Chunk& c : *queue)
            complete_chunk(c.request, 0, fmt::format("{}: read at offset {} not done: {}", files_[size_t(c.file)].path, c.offset, why));
        queue->clear();
    }
}

const OpenFile& ReaderCore::file(int i) const {
    if (i < 0 || size_t(i) >= files_.size()) fail("reader: file index {} of {}", i, files_.size());
    return files_[size_t(i)];
}

bool ReaderCore::direct(int i) const {
    const OpenFile& f = file(i);
    std::lock_guard lk(mu_);
    return f.direct;
}

bool ReaderCore::stopping() const {
    std::lock_guard lk(mu_);
    return stop_;
}

void ReaderCore::stop() {
    std::lock_guard lk(mu_);
    stop_ = true;
    work_cv_.notify_all();
}

ReaderStats ReaderCore::stats() const {
    std::lock_guard lk(mu_);
    ReaderStats s = stats_;
    if (!requests_.empty()) s.busy_seconds += std::chrono::duration<double>(Clock::now() - busy_since_).count();
    return s;
}

void ReaderCore::reset_stats() {
    std::lock_guard lk(mu_);
    stats_ = {};
    busy_since_ = Clock::now();
}

}  // namespace detail

struct Reader::Impl {
    detail::ReaderCore core;
    std::unique_ptr<detail::IoEngine> engine;
    IoBackend backend;

    Impl(const std::vector<std::string>& paths, const ReaderOptions& options) : core(paths, options), backend(options.backend) {
        if (backend == IoBackend::Uring) engine = detail::make_uring_engine(core);
        if (!engine) {
            backend = IoBackend::Pread;
            engine = detail::make_pread_engine(core);
        }
    }
    ~Impl() {
        core.stop();
        engine.reset();
    }
};

Reader::Reader(const std::vector<std::string>& paths, const ReaderOptions& options)
    : impl_(std::make_unique<Impl>(paths, options)) {}
Reader::~Reader() = default;

void Reader::submit(const ReadRequest& request) {
    impl_->core.submit(request);
    impl_->engine->wake();
}
void Reader::promote(uint64_t tag) { impl_->core.promote(tag); }
std::optional<ReadDone> Reader::wait() { return impl_->core.wait(true); }
std::optional<ReadDone> Reader::poll() { return impl_->core.wait(false); }
size_t Reader::outstanding() const { return impl_->core.outstanding(); }
IoBackend Reader::backend() const { return impl_->backend; }
bool Reader::direct(int file) const { return impl_->core.direct(file); }
const std::string& Reader::path(int file) const { return impl_->core.file(file).path; }
ReaderStats Reader::stats() const { return impl_->core.stats(); }
void Reader::reset_stats() { impl_->core.reset_stats(); }

}  // namespace sluice
