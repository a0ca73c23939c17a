#include "model/streaming_experts.h"

#include <algorithm>

#include "util/error.h"

namespace sluice {

namespace {
constexpr uint64_t kPrefetchWindow = 256;       // prefetches per accuracy check
// Below this accuracy prefetching pauses. When the disk is the bottleneck, a wrong prefetch
// costs a whole expert read while a right one saves at most the compute it overlaps: on the
// Zen 4 VM of bench/RESULTS.md, accuracy 0.77 gave the same tok/s for 25% more bytes read and
// 0.53 cost 6% for 43% more.
constexpr double kPrefetchMinAccuracy = 0.8;
// A window whose first 64 prefetches are mostly wrong is judged at once: routing that cannot be
// predicted (~K/E right) shows within a few tokens, and 256 wrong reads cost more than a token.
// At a true 80%, fewer than half right in 64 is over four standard deviations away.
constexpr uint64_t kPrefetchEarlyLook = 64;
constexpr double kPrefetchEarlyMinAccuracy = 0.5;
// The pause doubles with each window judged wrong in a row (routing that stays unpredictable
// costs one early look per pause), up to 16 times the first.
constexpr uint64_t kPrefetchPauseTokens = 64;
constexpr int kPrefetchMaxPauseDoublings = 4;
}  // namespace

ExpertLayout expert_layout(const ModelDesc& desc) {
    std::vector<std::string> paths;
    for (const auto& f : desc.files) {
        if (f->is_in_memory())
            fail("{}: this model's experts are rewritten in memory at load ({}) and cannot be streamed under --mem; "
                 "use llama.cpp's GGUF of it",
                 desc.path, f->path());
        paths.push_back(f->path());
    }
    const ModelConfig& c = desc.config;
    ExpertLayout layout(paths, int(c.n_layers), int(c.n_experts));
    for (int l = 0; l < int(c.n_layers); ++l) {
        const LayerExperts& le = desc.experts[size_t(l)];
        if (le.empty()) continue;   // a dense layer
        auto range = [](const ExpertProjection& p, int e) {
            const auto& s = p.experts[size_t(e)];
            return ByteRange{s.file, s.offset, s.bytes};
        };
        for (int e = 0; e < int(c.n_experts); ++e)
            layout.set(l, e, {range(le.gate, e), range(le.up, e), range(le.down, e)});
    }
    return layout;
}

StreamingExperts::StreamingExperts(const ModelDesc& desc, const StreamingOptions& options)
    : desc_(desc),
      prefetch_(options.prefetch),
      experts_per_token_(options.experts_per_token > 0 ? options.experts_per_token : desc.config.n_experts_used) {
    ExpertLayout layout = expert_layout(desc);
    CacheOptions co;
    co.budget_bytes = uint64_t(std::max<int64_t>(options.slots, 0)) * ExpertCache::slot_bytes_for(layout);
    co.min_experts = int(experts_per_token_);
    co.policy = options.policy;
    co.reader = options.reader;
    cache_ = std::make_unique<ExpertCache>(layout, co);
}

// Misses go to disk together; each expert is handed to `use` as soon as it is in memory. A
// request for more than K experts comes from several tokens (a prompt's ubatch, or sequences
// batched together): over the layers it scans more experts than the cache holds (ExpertCache).
void StreamingExperts::with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) {
    ++tick_;
    std::vector<int> ids(experts.begin(), experts.end());
    cache_->request(int(layer), ids, int64_t(ids.size()) > experts_per_token_);
    if (pending_prefetch_) {
        // Judged before the new hint is issued: every prefetch counted has had the request
        // it predicted (a prompt's ubatch issues a whole layer's at once).
        judge_prefetch_accuracy();
        cache_->prefetch(pending_prefetch_->first, pending_prefetch_->second);
        pending_prefetch_.reset();
    }
    const LayerExperts& le = desc_.experts[size_t(layer)];
    std::vector<ReadyExpert> batch;
    auto release_batch = [&] {
        for (const ReadyExpert& r : batch) cache_->release(int(layer), r.expert);
        batch.clear();
    };
    // Each batch: the next expert (waiting for it if need be) and every other one already here.
    for (auto e = cache_->next_ready(); e; e = cache_->next_ready()) {
        for (;;) {
            batch.push_back({int32_t(e->expert), MappedExperts::view(le, e->gate, e->up, e->down)});
            if (cache_->ready_count() == 0) break;
            e = cache_->next_ready();
        }
        try {
            use(batch);
        } catch (...) {
            release_batch();
            throw;
        }
        release_batch();
    }
}

void StreamingExperts::prefetch(int64_t layer, std::span<const int32_t> experts) {
    pending_prefetch_.emplace(int(layer), std::vector<int>(experts.begin(), experts.end()));
}

void StreamingExperts::judge_prefetch_accuracy() {
    const StoreStats s = cache_->stats();
    const uint64_t issued = s.prefetch_issued - window_issued_, used = s.prefetch_used - window_used_;
    const bool clearly_wrong = issued >= kPrefetchEarlyLook && double(used) < kPrefetchEarlyMinAccuracy * double(issued);
    if (issued < kPrefetchWindow && !clearly_wrong) return;
    if (clearly_wrong || double(used) < kPrefetchMinAccuracy * double(issued)) {
        const uint64_t tokens = kPrefetchPauseTokens << wrong_windows_in_a_row_;
        prefetch_paused_until_ = tick_ + tokens * uint64_t(desc_.config.n_layers);
        wrong_windows_in_a_row_ = std::min(wrong_windows_in_a_row_ + 1, kPrefetchMaxPauseDoublings);
    } else {
        wrong_windows_in_a_row_ = 0;
    }
    window_issued_ = s.prefetch_issued;
    window_used_ = s.prefetch_used;
}

ExpertSourceStats StreamingExperts::stats() const {
    const StoreStats s = cache_->stats();
    ExpertSourceStats r;
    r.hits = s.hits;
    r.misses = s.misses;
    r.bytes_read = s.bytes_read;
    r.read_seconds = s.read_seconds;
    r.prefetch_issued = s.prefetch_issued;
    r.prefetch_used = s.prefetch_used;
    return r;
}

void StreamingExperts::reset_stats() {
    cache_->reset_stats();
    window_issued_ = window_used_ = 0;
}

std::vector<double> StreamingExperts::layer_hit_rates() const {
    std::vector<double> r;
    for (const LayerStats& l : cache_->stats().layers) r.push_back(l.hit_rate());
    return r;
}

}  // namespace sluice
