#include "model/streaming_experts.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/error.h"

namespace sluice {

namespace {

constexpr uint64_t kAlign = 4096;   // O_DIRECT offset, length and buffer alignment
constexpr uint64_t kDecayPeriodTokens = 64;
constexpr uint64_t kPrefetchWindow = 256;        // prefetches per accuracy check
constexpr double kPrefetchMinAccuracy = 0.2;     // below this, prefetching pauses
constexpr uint64_t kPrefetchPauseTokens = 64;

uint64_t align_up(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Test hook: SLUICE_FAULT=eio:N or short:N makes the N-th read (1-based) fail that way, so the
// error path can be tested without a broken disk.
struct FaultPlan {
    enum Kind { None, Eio, Short } kind = None;
    uint64_t at = 0;
    FaultPlan() {
        const char* env = std::getenv("SLUICE_FAULT");
        if (!env) return;
        std::string s(env);
        auto colon = s.find(':');
        if (colon == std::string::npos) return;
        std::string k = s.substr(0, colon);
        at = std::strtoull(s.c_str() + colon + 1, nullptr, 10);
        kind = k == "eio" ? Eio : k == "short" ? Short : None;
    }
};

}  // namespace

struct StreamingExperts::File {
    std::string path;
    int direct = -1;     // O_DIRECT descriptor, -1 where the file system refuses it
    int buffered = -1;   // fallback: buffered reads followed by POSIX_FADV_DONTNEED
};

struct StreamingExperts::Slot {
    enum State { Free, Loading, Ready, Failed };
    uint8_t* base = nullptr;
    int64_t key = -1;
    State state = Free;
    int pending = 0;
    int pins = 0;
    uint64_t last_use = 0;
    uint64_t uses = 0;
    bool prefetched = false;
    uint64_t lead[3] = {};   // where each part's bytes start inside its aligned read
    std::string error;
};

struct StreamingExperts::Read {
    Slot* slot;
    int file;
    uint64_t offset;   // aligned
    uint64_t length;   // aligned
    uint64_t needed;   // bytes that must arrive (the aligned span may run past the end of the file)
    uint8_t* dst;
};

StreamingExperts::StreamingExperts(const ModelDesc& desc, const StreamingOptions& options)
    : desc_(desc), n_experts_(desc.config.n_experts), policy_(options.policy), prefetch_(options.prefetch) {
    const int64_t K = desc.config.n_experts_used;
    if (options.slots < K) fail("expert cache: {} slots cannot hold one layer's {} experts", options.slots, K);
    for (const auto& le : desc.experts) {
        const ExpertProjection* parts[3] = {&le.gate, &le.up, &le.down};
        for (int p = 0; p < 3; ++p)
            for (const auto& s : parts[p]->experts)
                part_capacity_[p] = std::max(part_capacity_[p], align_up(s.bytes) + kAlign);
    }
    slot_bytes_ = part_capacity_[0] + part_capacity_[1] + part_capacity_[2];

    for (const auto& f : desc.files) {
        auto file = std::make_unique<File>();
        file->path = f->path();
        file->direct = ::open(f->path().c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        file->buffered = ::open(f->path().c_str(), O_RDONLY | O_CLOEXEC);
        if (file->buffered < 0) fail("{}: cannot open for reading experts: {}", f->path(), std::strerror(errno));
        files_.push_back(std::move(file));
    }

    void* arena = nullptr;
    if (posix_memalign(&arena, kAlign, slot_bytes_ * uint64_t(options.slots)) != 0)
        fail("expert cache: cannot allocate {} slots of {} bytes", options.slots, slot_bytes_);
    arena_ = static_cast<uint8_t*>(arena);
    slots_.resize(size_t(options.slots));
    for (size_t i = 0; i < slots_.size(); ++i) slots_[i].base = arena_ + i * slot_bytes_;
    layer_hits_.assign(size_t(desc.config.n_layers), 0);
    layer_misses_.assign(size_t(desc.config.n_layers), 0);
    for (int i = 0; i < std::max(1, options.io_threads); ++i) io_threads_.emplace_back([this] { io_loop(); });
}

StreamingExperts::~StreamingExperts() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : io_threads_) t.join();
    for (auto& f : files_) {
        if (f->direct >= 0) ::close(f->direct);
        ::close(f->buffered);
    }
    std::free(arena_);
}

StreamingExperts::Slot* StreamingExperts::pick_victim(bool for_prefetch) {
    Slot* best = nullptr;
    const uint64_t recent = tick_ > uint64_t(desc_.config.n_layers) ? tick_ - uint64_t(desc_.config.n_layers) : 0;
    for (Slot& s : slots_) {
        if (s.state == Slot::Free) return &s;
        if (s.pins > 0 || s.state == Slot::Loading) continue;
        // A prefetch never evicts what the current token has used.
        if (for_prefetch && s.last_use > recent) continue;
        if (!best) {
            best = &s;
        } else if (policy_ == CachePolicy::Lru) {
            if (s.last_use < best->last_use) best = &s;
        } else if (s.uses < best->uses || (s.uses == best->uses && s.last_use < best->last_use)) {
            best = &s;
        }
    }
    return best;
}

void StreamingExperts::start_reads(Slot& s, int64_t layer, int32_t expert, bool urgent) {
    const LayerExperts& le = desc_.experts[size_t(layer)];
    const ExpertProjection* parts[3] = {&le.gate, &le.up, &le.down};
    uint64_t part_base = 0;
    s.pending = 3;
    s.error.clear();
    for (int p = 0; p < 3; ++p) {
        const auto& slice = parts[p]->experts[size_t(expert)];
        const uint64_t aligned = slice.offset / kAlign * kAlign;
        s.lead[p] = slice.offset - aligned;
        Read r{&s, slice.file, aligned, align_up(s.lead[p] + slice.bytes), s.lead[p] + slice.bytes, s.base + part_base};
        (urgent ? urgent_ : background_).push_back(r);
        part_base += part_capacity_[p];
    }
    work_cv_.notify_all();
}

StreamingExperts::Slot* StreamingExperts::acquire(int64_t layer, int32_t expert, bool for_prefetch) {
    Slot* s = pick_victim(for_prefetch);
    if (!s) return nullptr;
    if (s->key >= 0) index_.erase(s->key);
    s->key = key(layer, expert);
    s->state = Slot::Loading;
    s->uses = 0;
    s->prefetched = for_prefetch;
    index_[s->key] = s;
    start_reads(*s, layer, expert, !for_prefetch);
    return s;
}

void StreamingExperts::read_part(const Read& r) {
    static FaultPlan faults;
    static std::atomic<uint64_t> counter{0};
    const uint64_t n = ++counter;
    File& f = *files_[size_t(r.file)];
    std::string error;
    uint64_t done = 0;
    bool direct = f.direct >= 0;
    while (done < r.length) {
        ssize_t got = ::pread(direct ? f.direct : f.buffered, r.dst + done, r.length - done, off_t(r.offset + done));
        if (faults.kind == FaultPlan::Eio && n == faults.at) {
            got = -1;
            errno = EIO;
        }
        if (faults.kind == FaultPlan::Short && n == faults.at && got > 0) got = std::min<ssize_t>(got, 512);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EINVAL && direct) {  // the file system refuses O_DIRECT here
            direct = false;
            continue;
        }
        if (got < 0) {
            error = fmt::format("{}: reading expert bytes at offset {} failed: {}", f.path, r.offset + done,
                                std::strerror(errno));
            break;
        }
        if (got == 0) break;  // end of file
        done += uint64_t(got);
        if (faults.kind == FaultPlan::Short && n == faults.at) break;
    }
    if (error.empty() && done < r.needed)
        error = fmt::format("{}: short read at offset {}: got {} of {} bytes (file truncated?)", f.path, r.offset, done,
                            r.needed);
    if (!direct) ::posix_fadvise(f.buffered, off_t(r.offset), off_t(r.length), POSIX_FADV_DONTNEED);

    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_read += done;
    if (!error.empty() && r.slot->error.empty()) r.slot->error = error;
    if (--r.slot->pending == 0) {
        r.slot->state = r.slot->error.empty() ? Slot::Ready : Slot::Failed;
        ready_cv_.notify_all();
    }
}

void StreamingExperts::io_loop() {
    for (;;) {
        Read r;
        {
            std::unique_lock<std::mutex> lock(mu_);
            work_cv_.wait(lock, [&] { return stop_ || !urgent_.empty() || !background_.empty(); });
            if (stop_) return;
            auto& q = !urgent_.empty() ? urgent_ : background_;
            r = q.front();
            q.pop_front();
            if (in_flight_++ == 0) busy_since_ = std::chrono::steady_clock::now();
        }
        read_part(r);
        std::lock_guard<std::mutex> lock(mu_);
        if (--in_flight_ == 0)
            stats_.read_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - busy_since_).count();
    }
}

ExpertWeights StreamingExperts::weights_of(const Slot& s) const {
    const int64_t layer = s.key / n_experts_;
    const LayerExperts& le = desc_.experts[size_t(layer)];
    return MappedExperts::view(le, s.base + s.lead[0], s.base + part_capacity_[0] + s.lead[1],
                               s.base + part_capacity_[0] + part_capacity_[1] + s.lead[2]);
}

// Pins as many of the layer's experts as slots allow (hits at once, misses by issuing their
// reads together), computes whichever is ready first, and pins the next as slots free up, so a
// prefill batch may need more experts than the cache has slots.
void StreamingExperts::with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) {
    std::unique_lock<std::mutex> lock(mu_);
    std::deque<int32_t> waiting(experts.begin(), experts.end());
    std::vector<std::pair<int32_t, Slot*>> in_hand;
    // Unpins whatever is still pinned if a read fails or `use` throws.
    struct Unpin {
        std::unique_lock<std::mutex>& lock;
        std::vector<std::pair<int32_t, Slot*>>& in_hand;
        ~Unpin() {
            if (!lock.owns_lock()) lock.lock();
            for (auto& [e, s] : in_hand) s->pins--;
        }
    } unpin{lock, in_hand};

    ++tick_;
    if (policy_ == CachePolicy::LfuDecay && tick_ % (kDecayPeriodTokens * uint64_t(desc_.config.n_layers)) == 0)
        for (Slot& s : slots_) s.uses /= 2;

    while (!waiting.empty() || !in_hand.empty()) {
        while (!waiting.empty()) {
            const int32_t e = waiting.front();
            auto it = index_.find(key(layer, e));
            Slot* s = it == index_.end() ? nullptr : it->second;
            if (s && s->state == Slot::Failed && s->pins == 0) {  // a failed prefetch: read again
                index_.erase(s->key);
                s->key = -1;
                s->state = Slot::Free;
                s = nullptr;
            }
            if (s) {
                stats_.hits++;
                layer_hits_[size_t(layer)]++;
                if (s->prefetched) {
                    stats_.prefetch_used++;
                    window_used_++;
                    s->prefetched = false;
                }
            } else {
                if (!(s = acquire(layer, e, false))) break;
                stats_.misses++;
                layer_misses_[size_t(layer)]++;
            }
            s->pins++;
            s->uses++;
            s->last_use = tick_;
            in_hand.push_back({e, s});
            waiting.pop_front();
        }
        if (in_hand.empty()) {  // no slot could be taken: wait for in-flight prefetches to land
            bool loading = std::any_of(slots_.begin(), slots_.end(), [](const Slot& x) { return x.state == Slot::Loading; });
            if (!loading) fail("expert cache: all {} slots are pinned; the budget is too small", slots_.size());
            ready_cv_.wait(lock);
            continue;
        }
        // Compute in arrival order: whatever is ready first, while the rest is still being read.
        size_t pick = 0;
        ready_cv_.wait(lock, [&] {
            for (size_t i = 0; i < in_hand.size(); ++i)
                if (in_hand[i].second->state != Slot::Loading) {
                    pick = i;
                    return true;
                }
            return false;
        });
        auto [e, s] = in_hand[pick];
        in_hand.erase(in_hand.begin() + std::ptrdiff_t(pick));
        if (s->state == Slot::Failed) {
            std::string msg = s->error;
            if (--s->pins == 0) {
                index_.erase(s->key);
                s->key = -1;
                s->state = Slot::Free;
            }
            throw Error(msg);
        }
        ExpertWeights w = weights_of(*s);
        lock.unlock();
        try {
            use(e, w);
        } catch (...) {
            lock.lock();
            s->pins--;
            throw;
        }
        lock.lock();
        s->pins--;
    }
}

void StreamingExperts::prefetch(int64_t layer, std::span<const int32_t> experts) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int32_t e : experts) {
        if (index_.count(key(layer, e))) continue;
        if (!acquire(layer, e, true)) break;
        stats_.prefetch_issued++;
        window_issued_++;
    }
    if (window_issued_ >= kPrefetchWindow) {
        if (double(window_used_) < kPrefetchMinAccuracy * double(window_issued_))
            prefetch_paused_until_ = tick_ + kPrefetchPauseTokens * uint64_t(desc_.config.n_layers);
        window_issued_ = window_used_ = 0;
    }
}

ExpertSourceStats StreamingExperts::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

void StreamingExperts::reset_stats() {
    std::lock_guard<std::mutex> lock(mu_);
    stats_ = {};
    std::fill(layer_hits_.begin(), layer_hits_.end(), 0);
    std::fill(layer_misses_.begin(), layer_misses_.end(), 0);
}

std::vector<double> StreamingExperts::layer_hit_rates() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<double> r(layer_hits_.size());
    for (size_t l = 0; l < r.size(); ++l) {
        uint64_t n = layer_hits_[l] + layer_misses_[l];
        r[l] = n ? double(layer_hits_[l]) / double(n) : 0.0;
    }
    return r;
}

}  // namespace sluice
