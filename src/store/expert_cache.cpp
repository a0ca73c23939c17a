#include "store/expert_cache.h"

#include <algorithm>
#include <array>
#include <cstdlib>

#include <sys/mman.h>
#include <unistd.h>

#include "util/error.h"
#include "util/size.h"
#include "util/thread_pool.h"

namespace sluice {

namespace {

const ByteRange& part_of(const ExpertParts& p, int i) { return i == 0 ? p.gate : i == 1 ? p.up : p.down; }

// Each projection's largest aligned read span over all experts.
std::array<uint64_t, 3> part_spans(const ExpertLayout& layout) {
    std::array<uint64_t, 3> most{};
    for (int l = 0; l < layout.n_layers(); ++l)
        for (int e = 0; e < layout.n_experts(); ++e)
            for (int i = 0; i < 3; ++i) {
                const ByteRange& r = part_of(layout.parts(l, e), i);
                most[size_t(i)] = std::max(most[size_t(i)], Reader::span_bytes(r.offset, r.length));
            }
    return most;
}

}  // namespace

void ExpertCache::FreeDeleter::operator()(uint8_t* p) const { std::free(p); }

uint64_t ExpertCache::slot_bytes_for(const ExpertLayout& layout) {
    auto spans = part_spans(layout);
    return spans[0] + spans[1] + spans[2];
}

ExpertCache::ExpertCache(const ExpertLayout& layout, const CacheOptions& options) : layout_(layout) {
    layout_.check_complete();
    // Each projection gets a region as large as its largest aligned span; every region starts
    // aligned, so a read lands in place and the projection starts at its offset's remainder.
    const std::array<uint64_t, 3> spans = part_spans(layout_);
    for (int i = 0; i < 3; ++i) {
        part_offset_[i] = slot_bytes_;
        slot_bytes_ += spans[size_t(i)];
    }
    const int64_t n_keys = int64_t(layout_.n_layers()) * layout_.n_experts();
    const int need = std::max(1, options.min_experts);
    const uint64_t fit = options.budget_bytes / slot_bytes_;
    if (fit < uint64_t(need))
        fail("expert cache: budget of {} holds {} experts of {} each; {} experts per request need at least {}",
             format_size(options.budget_bytes), fit, format_size(slot_bytes_), need, format_size(uint64_t(need) * slot_bytes_));
    const size_t n_slots = size_t(std::min<uint64_t>(fit, uint64_t(n_keys)));

    void* mem = std::aligned_alloc(Reader::kAlign, n_slots * slot_bytes_);
    if (!mem) fail("expert cache: cannot allocate {} for {} slots", format_size(n_slots * slot_bytes_), n_slots);
    arena_.reset(static_cast<uint8_t*>(mem));
    touch_arena(n_slots * slot_bytes_);
    reader_ = std::make_unique<Reader>(layout_.files(), options.reader);
    policy_ = ReplacementPolicy::make(options.policy, n_keys);

    slots_.resize(n_slots);
    for (size_t s = 0; s < n_slots; ++s) slots_[s].base = arena_.get() + s * slot_bytes_;
    for (size_t s = n_slots; s-- > 0;) free_.push_back(int(s));
    where_.assign(size_t(n_keys), -1);
    stats_.layers.resize(size_t(layout_.n_layers()));
    transient_limit_ = std::min<int64_t>(layout_.n_experts(), std::max<int64_t>(need, int64_t(n_slots) / 4));
}

ExpertCache::~ExpertCache() = default;

// The slots' pages are faulted in here, once, on all threads, rather than by the first read into
// each slot: a read into untouched memory makes the kernel allocate and zero its pages inside
// the read, in the I/O thread, one 4 KiB page at a time, and decode waited for that on every
// miss until the cache had filled (a fifth of the CPU time of a 2-bit run under 8 GiB, most of
// its time per layer). Huge pages, where the kernel gives them, make it 512 times fewer faults.
void ExpertCache::touch_arena(size_t bytes) {
    uint8_t* base = arena_.get();
    const uintptr_t huge = 2u << 20;
    const uintptr_t first = (reinterpret_cast<uintptr_t>(base) + huge - 1) & ~(huge - 1);
    if (first < reinterpret_cast<uintptr_t>(base) + bytes)
        ::madvise(reinterpret_cast<void*>(first), reinterpret_cast<uintptr_t>(base) + bytes - first, MADV_HUGEPAGE);
    const int64_t page = ::sysconf(_SC_PAGESIZE);
    const int64_t pages = (int64_t(bytes) + page - 1) / page;
    ThreadPool::global().parallel_for(pages, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) base[i * page] = 0;
    }, 256);
}

int64_t ExpertCache::key_of(int layer, int expert) const {
    if (layer < 0 || layer >= layout_.n_layers() || expert < 0 || expert >= layout_.n_experts())
        fail("expert cache: expert ({}, {}) out of range ({} layers, {} experts)", layer, expert, layout_.n_layers(),
             layout_.n_experts());
    return int64_t(layer) * layout_.n_experts() + expert;
}

// A slot for `key`: a free one, else one to evict — a transient one first, then the policy's
// victim among ready, unpinned ones. During a scan the victim is displaced only if the policy
// admits `key`; else its slot turns transient while fewer than the limit are, or, for an urgent
// read, while nothing in flight or ready to compute would release one (no deadlock). -1 if none.
int ExpertCache::take_slot(int64_t key, bool urgent) {
    if (!free_.empty()) {
        int s = free_.back();
        free_.pop_back();
        return s;
    }
    std::vector<int64_t> keys;
    std::vector<int> index;
    int reusable = -1;
    for (size_t s = 0; s < slots_.size(); ++s) {
        const Slot& sl = slots_[s];
        if (sl.state != State::Ready || sl.pins > 0) continue;
        if (sl.transient) {
            if (reusable < 0) reusable = int(s);
            continue;
        }
        keys.push_back(sl.key);
        index.push_back(int(s));
    }
    int s = reusable;
    bool transient = scan_;
    if (s < 0) {
        if (keys.empty()) return -1;
        s = index[policy_->victim(keys)];
        transient = scan_ && !policy_->admits(key, slots_[size_t(s)].key);
        const bool progress = pending_ > 0 || !ready_.empty();
        if (transient && transient_ >= transient_limit_ && (!urgent || progress)) return -1;
    }
    where_[size_t(slots_[size_t(s)].key)] = -1;
    set_transient(s, transient);
    return s;
}

void ExpertCache::set_transient(int s, bool transient) {
    Slot& sl = slots_[size_t(s)];
    if (sl.transient == transient) return;
    sl.transient = transient;
    transient_ += transient ? 1 : -1;
}

void ExpertCache::load(int s, int64_t key, bool urgent) {
    Slot& sl = slots_[size_t(s)];
    sl.key = key;
    sl.state = State::Loading;
    sl.parts_left = 3;
    sl.wanted = sl.prefetched = sl.hit = false;
    sl.error.clear();
    where_[size_t(key)] = s;
    policy_->on_insert(key);
    const ExpertParts& parts = layout_.parts(int(key / layout_.n_experts()), int(key % layout_.n_experts()));
    for (int i = 0; i < 3; ++i) {
        const ByteRange& r = part_of(parts, i);
        reader_->submit({r.file, r.offset, r.length, sl.base + part_offset_[i], uint64_t(s) * 3 + uint64_t(i), urgent});
        layer_stats(key).bytes_read += Reader::span_bytes(r.offset, r.length);
    }
}

void ExpertCache::on_done(const ReadDone& d) {
    const int s = int(d.tag / 3);
    Slot& sl = slots_[size_t(s)];
    if (d.ok()) sl.part[d.tag % 3] = d.data;
    else if (sl.error.empty()) sl.error = d.error;
    sl.abandoned = sl.abandoned || d.abandoned;
    if (--sl.parts_left > 0) return;
    if (sl.wanted) --pending_;
    if (!sl.error.empty()) {
        // Forget the expert: a later request reads it again (and fails again if the file is bad).
        if (sl.wanted && failed_.empty()) failed_ = sl.error;
        where_[size_t(sl.key)] = -1;
        set_transient(s, false);
        uint8_t* base = sl.base;
        const bool retire = sl.abandoned;
        sl = Slot{};
        sl.base = base;
        // A read given up at its deadline may still land in this slot: never reuse it.
        if (retire) sl.state = State::Retired;
        else free_.push_back(s);
        return;
    }
    sl.state = State::Ready;
    if (sl.wanted) {
        sl.wanted = false;
        ready_.push_back(s);
    }
}

void ExpertCache::drain() {
    while (auto d = reader_->poll()) on_done(*d);
}

void ExpertCache::abandon_request() {
    for (int s : ready_) --slots_[size_t(s)].pins;
    ready_.clear();
    for (Slot& sl : slots_) {
        if (!sl.wanted) continue;
        sl.wanted = false;
        --sl.pins;
    }
    pending_ = 0;
    waiting_.clear();
    failed_.clear();
}

void ExpertCache::request(int layer, std::span<const int> experts, bool scan) {
    abandon_request();
    prefetch_waiting_.clear();
    scan_ = scan;
    drain();
    std::vector<int64_t> keys;
    for (int e : experts) keys.push_back(key_of(layer, e));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

    // Pin every hit first, so no miss of this request evicts one.
    std::vector<int64_t> misses;
    for (int64_t key : keys) {
        policy_->on_use(key);
        const int s = where_[size_t(key)];
        if (s < 0) {
            misses.push_back(key);
            continue;
        }
        Slot& sl = slots_[size_t(s)];
        ++layer_stats(key).hits;
        ++sl.pins;
        sl.hit = true;
        if (!scan) set_transient(s, false);   // used outside a prompt: it has earned its place
        if (sl.prefetched) {
            sl.prefetched = false;
            ++stats_.prefetch_used;
        }
        if (sl.state == State::Ready) {
            ready_.push_back(s);
        } else {   // still being prefetched: now urgent
            sl.wanted = true;
            ++pending_;
            for (uint64_t i = 0; i < 3; ++i) reader_->promote(uint64_t(s) * 3 + i);
        }
    }
    for (int64_t key : misses) {
        ++layer_stats(key).misses;
        waiting_.push_back(key);
    }
    start_waiting();
}

// Gives waiting misses of the current request slots while there are any to take.
void ExpertCache::start_waiting() {
    size_t started = 0;
    for (; started < waiting_.size(); ++started) {
        const int s = take_slot(waiting_[started], true);
        if (s < 0) break;
        load(s, waiting_[started], true);
        Slot& sl = slots_[size_t(s)];
        sl.wanted = true;
        ++sl.pins;
        ++pending_;
    }
    waiting_.erase(waiting_.begin(), waiting_.begin() + std::ptrdiff_t(started));
}

std::optional<ExpertView> ExpertCache::next_ready() {
    for (;;) {
        if (!failed_.empty()) {
            std::string why = failed_;
            abandon_request();
            throw Error(why);
        }
        if (!ready_.empty()) {
            const int s = ready_.front();
            ready_.pop_front();
            return view(s);
        }
        if (!waiting_.empty()) start_waiting();
        // With misses waiting, prefetches in flight may hold the only slots they could take.
        if (pending_ > 0 || (!waiting_.empty() && reader_->outstanding() > 0)) {
            std::optional<ReadDone> d = reader_->wait();
            if (!d) fail("expert cache: {} expert reads pending but none outstanding", pending_);
            on_done(*d);
            continue;
        }
        if (!waiting_.empty()) {
            const size_t n = waiting_.size();
            const int64_t layer = waiting_.front() / layout_.n_experts();
            abandon_request();
            fail("expert cache: {} experts of layer {} wait for a slot but all {} slots are pinned; "
                 "release experts before requesting more",
                 n, layer, slots_.size());
        }
        return std::nullopt;
    }
}

void ExpertCache::release(int layer, int expert) {
    const int s = where_[size_t(key_of(layer, expert))];
    if (s < 0 || slots_[size_t(s)].pins == 0)
        fail("expert cache: release of expert ({}, {}), which is not pinned", layer, expert);
    --slots_[size_t(s)].pins;
    if (!scan_) return;
    drain();
    if (!waiting_.empty()) start_waiting();
    start_prefetches();
}

void ExpertCache::prefetch(int layer, std::span<const int> experts) {
    drain();
    prefetch_waiting_.clear();
    for (int e : experts) prefetch_waiting_.push_back(key_of(layer, e));
    start_prefetches();
}

void ExpertCache::start_prefetches() {
    if (scan_ && !waiting_.empty()) return;   // the current request's misses first
    while (!prefetch_waiting_.empty()) {
        const int64_t key = prefetch_waiting_.front();
        if (where_[size_t(key)] < 0) {
            const int s = take_slot(key, false);
            if (s < 0) break;
            load(s, key, false);
            slots_[size_t(s)].prefetched = true;
            ++stats_.prefetch_issued;
        }
        prefetch_waiting_.pop_front();
    }
    if (!scan_) prefetch_waiting_.clear();
}

ExpertView ExpertCache::view(int s) const {
    const Slot& sl = slots_[size_t(s)];
    const int64_t n = layout_.n_experts();
    return ExpertView{int(sl.key / n), int(sl.key % n), sl.part[0], sl.part[1], sl.part[2], sl.hit};
}

StoreStats ExpertCache::stats() const {
    StoreStats s = stats_;
    s.hits = s.misses = 0;
    for (const LayerStats& l : s.layers) {
        s.hits += l.hits;
        s.misses += l.misses;
    }
    const ReaderStats r = reader_->stats();
    s.bytes_read = r.bytes;
    s.read_seconds = r.busy_seconds;
    return s;
}

void ExpertCache::reset_stats() {
    stats_ = StoreStats{};
    stats_.layers.resize(size_t(layout_.n_layers()));
    reader_->reset_stats();
}

}  // namespace sluice
