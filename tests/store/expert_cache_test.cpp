#include <gtest/gtest.h>

#include <random>
#include <set>

#include "store/expert_cache.h"
#include "store_test_util.h"
#include "util/error.h"

namespace sluice {
namespace {

using test::first_mismatch;

// Every projection handed out holds exactly the file's bytes.
void expect_exact(const ExpertLayout& layout, const ExpertView& v) {
    const ExpertParts& p = layout.parts(v.layer, v.expert);
    EXPECT_EQ(first_mismatch(v.gate, p.gate.offset, p.gate.length), -1) << v.layer << "/" << v.expert << " gate";
    EXPECT_EQ(first_mismatch(v.up, p.up.offset, p.up.length), -1) << v.layer << "/" << v.expert << " up";
    EXPECT_EQ(first_mismatch(v.down, p.down.offset, p.down.length), -1) << v.layer << "/" << v.expert << " down";
}

// Requests experts of one layer, checks and releases each; returns how many came back. The
// experts served must be exactly the ones requested, each once (a view holding the file's bytes
// of another expert would pass expect_exact).
size_t use(ExpertCache& cache, const ExpertLayout& layout, int layer, std::vector<int> experts) {
    cache.request(layer, experts);
    std::set<int> served;
    while (auto v = cache.next_ready()) {
        EXPECT_EQ(v->layer, layer);
        EXPECT_TRUE(served.insert(v->expert).second) << "expert " << v->expert << " served twice";
        expect_exact(layout, *v);
        cache.release(v->layer, v->expert);
    }
    EXPECT_EQ(served, std::set<int>(experts.begin(), experts.end())) << "layer " << layer;
    return served.size();
}

CacheOptions options(uint64_t budget, IoBackend backend = IoBackend::Uring, std::string fault = "") {
    CacheOptions o;
    o.budget_bytes = budget;
    o.reader.backend = backend;
    o.reader.fault = std::move(fault);
    return o;
}

const test::SynthExperts kUnaligned{37, 5000, 5003, 4999};
const test::SynthExperts kAligned{4096, 8192, 8192, 4096};

class CacheBackends : public ::testing::TestWithParam<std::tuple<IoBackend, bool>> {};

TEST_P(CacheBackends, EveryExpertComesBackExactly) {
    auto [backend, aligned] = GetParam();
    test::TempDir dir;
    ExpertLayout layout = test::make_synth(dir.file("m.bin"), 3, 16, aligned ? kAligned : kUnaligned);
    ExpertCache cache(layout, options(64 * ExpertCache::slot_bytes_for(layout), backend));
    EXPECT_EQ(cache.backend(), backend);
    std::vector<int> all(16);
    for (int e = 0; e < 16; ++e) all[size_t(e)] = e;
    for (int l = 0; l < 3; ++l) EXPECT_EQ(use(cache, layout, l, all), 16u);
    for (int l = 0; l < 3; ++l) EXPECT_EQ(use(cache, layout, l, {3, 3, 5}), 2u);   // duplicates served once
    StoreStats s = cache.stats();
    EXPECT_EQ(s.misses, 48u);
    EXPECT_EQ(s.hits, 6u);
    EXPECT_GE(s.bytes_read, 48 * layout.expert_bytes());
    EXPECT_EQ(s.layers[1].hits, 2u);
}

INSTANTIATE_TEST_SUITE_P(Store, CacheBackends,
                         ::testing::Combine(::testing::Values(IoBackend::Uring, IoBackend::Pread), ::testing::Bool()),
                         [](const auto& info) {
                             return std::string(std::get<0>(info.param) == IoBackend::Uring ? "uring" : "pread") +
                                    (std::get<1>(info.param) ? "_aligned" : "_unaligned");
                         });

TEST(ExpertCache, TinyCacheServesLongRandomTraceCorrectly) {
    test::TempDir dir;
    ExpertLayout layout = test::make_synth(dir.file("m.bin"), 4, 32, kUnaligned);
    const int k = 4;
    CacheOptions o = options(k * ExpertCache::slot_bytes_for(layout));
    o.min_experts = k;
    ExpertCache cache(layout, o);
    EXPECT_EQ(cache.slots(), k);
    std::mt19937 rng(3);
    for (int step = 0; step < 600; ++step) {
        std::vector<int> experts;
        for (int i = 0; i < k; ++i) experts.push_back(int(rng() % 6));   // a small set, so some hits
        use(cache, layout, int(rng() % 4), experts);   // checks that exactly the requested experts come back
    }
    StoreStats s = cache.stats();
    EXPECT_LT(s.hit_rate(), 1.0);
    EXPECT_GT(s.hit_rate(), 0.0);
    EXPECT_GT(s.bytes_read, 0u);
    EXPECT_GT(s.read_seconds, 0.0);
}

TEST(ExpertCache, MoreMissesThanSlotsAreReadAsSlotsAreReleased) {
    test::TempDir dir;
    ExpertLayout layout = test::make_synth(dir.file("m.bin"), 1, 32, kUnaligned);
    ExpertCache cache(layout, options(3 * ExpertCache::slot_bytes_for(layout)));
    EXPECT_EQ(use(cache, layout, 0, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), 10u);
}

TEST(ExpertCache, PinnedExpertsAreNeverEvicted) {
    test::TempDir dir;
    ExpertLayout layout = test::make_synth(dir.file("m.bin"), 2, 32, kUnaligned);
    ExpertCache cache(layout, options(6 * ExpertCache::slot_bytes_for(layout)));
    cache.request(0, std::vector<int>{1, 2, 3, 4});
    std::vector<ExpertView> held;
    while (auto v = cache.next_ready()) held.push_back(*v);
    ASSERT_EQ(held.size(), 4u);
    // Churn the two unpinned slots with misses and prefetches.
    std::mt19937 rng(5);
    for (int step = 0; step < 200; ++step) {
        use(cache, layout, 1, {int(rng() % 32), int(rng() % 32)});
        cache.prefetch(int(rng() % 2), std::vector<int>{int(5 + rng() % 27), int(5 + rng() % 27)});
    }
    for (const ExpertView& v : held) expect_exact(layout, v);
    cache.request(0, std::vector<int>{1, 2, 3, 4});   // still resident: all hits
    while (auto v = cache.next_ready()) {
        EXPECT_TRUE(v->hit);
        cache.release(v->layer, v->expert);
    }
    for (const ExpertView& v : held) cache.release(v.layer, v.expert);
    EXPECT_THROW(cache.release(0, 1), Error);   // no longer pinned
}

TEST(ExpertCache, AllSlotsPinnedIsAClearErrorNotAHang) {
    test::TempDir dir;
    ExpertLayout layout = test::make_synth(dir.file("m.bin"), 1, 8, kUnaligned);
    ExpertCache cache(layout, options(2 * ExpertCache::slot_bytes_for(layout)));
    test::within_seconds(20, [&] {
        cache.request(0, std::vector<int>{0, 1, 2});
        ASSERT_TRUE(cache.next_ready());
        ASSERT_TRUE(cache.next_ready());
        try {
            cache.next_ready();
            FAIL() << "expected an error";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("pinned"), std::string::npos) << e.what();
        }
    });
}

TEST(ExpertCache, BudgetBelowKExpertsSaysHowMuchIsNeeded) {
    test::TempDir dir;
    ExpertLayout layout = test::make_synth(dir.file("m.bin"), 1, 8, kAligned);
    const uint64_t slot = ExpertCache::slot_bytes_for(layout);
    EXPECT_EQ(slot, 20480u);
    CacheOptions o = options(7 * slot);
    o.min_experts = 8;
    try {
        ExpertCache cache(layout, o);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("holds 7 experts"), std::string::npos) << msg;
        EXPECT_NE(msg.find("need at least 160.00 KiB"), std::string::npos) << msg;
    }
}

TEST(ExpertCache, PrefetchIsCountedAndNeverTakesPinnedSlots) {
    test::TempDir dir;
    ExpertLayout layout = test::make_synth(dir.file("m.bin"), 2, 16, kUnaligned);
    ExpertCache cache(layout, options(4 * ExpertCache::slot_bytes_for(layout)));
    cache.prefetch(1, std::vector<int>{7, 8});
    cache.request(1, std::vector<int>{7, 9});
    while (auto v = cache.next_ready()) {
        EXPECT_EQ(v->hit, v->expert == 7);
        expect_exact(layout, *v);
        cache.release(v->layer, v->expert);
    }
    StoreStats s = cache.stats();
    EXPECT_EQ(s.prefetch_issued, 2u);
    EXPECT_EQ(s.prefetch_used, 1u);
    EXPECT_DOUBLE_EQ(s.prefetch_accuracy(), 0.5);

    cache.reset_stats();
    cache.request(0, std::vector<int>{0, 1, 2, 3});   // pins all four slots
    std::vector<ExpertView> held;
    while (auto v = cache.next_ready()) held.push_back(*v);
    cache.prefetch(1, std::vector<int>{10, 11});
    EXPECT_EQ(cache.stats().prefetch_issued, 0u);
    for (const ExpertView& v : held) {
        expect_exact(layout, v);
        cache.release(v.layer, v.expert);
    }
}

class CacheFaults : public ::testing::TestWithParam<IoBackend> {};

TEST_P(CacheFaults, ReadErrorsSurfaceAsErrorAndTheCacheRecovers) {
    for (const char* fault : {"eio@5", "hang@5"}) {
        test::TempDir dir;
        const std::string path = dir.file("m.bin");
        ExpertLayout layout = test::make_synth(path, 1, 8, kUnaligned);
        test::within_seconds(20, [&] {
            CacheOptions o = options(8 * ExpertCache::slot_bytes_for(layout), GetParam(), fault);
            o.reader.deadline_ms = 200;
            ExpertCache cache(layout, o);
            cache.request(0, std::vector<int>{0, 1, 2, 3});
            try {
                while (auto v = cache.next_ready()) cache.release(v->layer, v->expert);
                FAIL() << "expected an error for " << fault;
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
                EXPECT_NE(std::string(e.what()).find("offset"), std::string::npos) << e.what();
            }
            // The fault was one chunk: asking again reads the failed expert anew.
            EXPECT_EQ(use(cache, layout, 0, {0, 1, 2, 3}), 4u);
        });
    }
}

// A short read or an interrupted one is read again: no error, the right bytes.
TEST_P(CacheFaults, RetriedReadsServeExactBytes) {
    test::TempDir dir;
    const std::string path = dir.file("m.bin");
    ExpertLayout layout = test::make_synth(path, 1, 8, kUnaligned);
    test::within_seconds(20, [&] {
        ExpertCache cache(layout, options(8 * ExpertCache::slot_bytes_for(layout), GetParam(), "short@2,eintr@5,eagain@7"));
        EXPECT_EQ(use(cache, layout, 0, {0, 1, 2, 3}), 4u);
    });
}

TEST_P(CacheFaults, FileTruncatedAfterOpeningIsAnError) {
    test::TempDir dir;
    const std::string path = dir.file("m.bin");
    ExpertLayout layout = test::make_synth(path, 2, 8, kUnaligned);
    test::within_seconds(20, [&] {
        ExpertCache cache(layout, options(4 * ExpertCache::slot_bytes_for(layout), GetParam()));
        ASSERT_EQ(::truncate(path.c_str(), off_t(layout.parts(1, 0).gate.offset)), 0);
        EXPECT_EQ(use(cache, layout, 0, {0, 7}), 2u);   // before the cut
        cache.request(1, std::vector<int>{2});
        EXPECT_THROW(cache.next_ready(), Error);
    });
}

INSTANTIATE_TEST_SUITE_P(Store, CacheFaults, ::testing::Values(IoBackend::Uring, IoBackend::Pread),
                         [](const auto& info) { return std::string(info.param == IoBackend::Uring ? "uring" : "pread"); });

TEST(ExpertLayout, RejectsBadEntries) {
    ExpertLayout layout({"a.bin"}, 2, 4);
    EXPECT_THROW(layout.set(2, 0, {{0, 0, 1}, {0, 1, 1}, {0, 2, 1}}), Error);
    EXPECT_THROW(layout.set(0, 0, {{1, 0, 1}, {0, 1, 1}, {0, 2, 1}}), Error);
    EXPECT_THROW(layout.set(0, 0, {{0, 0, 0}, {0, 1, 1}, {0, 2, 1}}), Error);
    EXPECT_THROW(layout.check_complete(), Error);   // no layer has experts
    layout.set(1, 0, {{0, 0, 1}, {0, 1, 1}, {0, 2, 1}});
    EXPECT_THROW(layout.check_complete(), Error);   // layer 1 has one expert of 4
    EXPECT_THROW(ExpertLayout({}, 1, 1), Error);
}

// A layer with no expert set is a dense layer (DeepSeek-V3's first layers): complete, and the
// cache serves the other layers.
TEST(ExpertLayout, DenseLayersHaveNoExperts) {
    ExpertLayout layout({"a.bin"}, 2, 2);
    for (int e = 0; e < 2; ++e) layout.set(1, e, {{0, 0, 1}, {0, 1, 1}, {0, 2, 1}});
    EXPECT_NO_THROW(layout.check_complete());
    EXPECT_FALSE(layout.layer_has_experts(0));
    EXPECT_TRUE(layout.layer_has_experts(1));
}

// A scan — a prompt's ubatch requesting, layer after layer, more experts than the cache holds.
// Under LFU the misses past the free slots go to transient slots (up to transient_limit()), so
// the second pass hits every expert the first one cached outside them; under LRU every miss
// displaces the least recent expert and each pass washes the cache out before it comes back.
TEST(ExpertCache, ScanKeepsACachedShareUnderLfu) {
    test::TempDir dir;
    const int L = 6, E = 16;
    ExpertLayout layout = test::make_synth(dir.file("m.bin"), L, E, kAligned);
    const int64_t slots = 32;   // a third of the experts
    auto second_pass_hits = [&](CachePolicy policy, int64_t* transient_limit) {
        CacheOptions o = options(uint64_t(slots) * ExpertCache::slot_bytes_for(layout));
        o.policy = policy;
        o.min_experts = 4;
        ExpertCache cache(layout, o);
        std::vector<int> all(E);
        for (int e = 0; e < E; ++e) all[size_t(e)] = e;
        auto pass = [&] {
            for (int l = 0; l < L; ++l) {
                cache.request(l, all, true);
                while (auto v = cache.next_ready()) {
                    expect_exact(layout, *v);
                    cache.release(v->layer, v->expert);
                }
            }
        };
        pass();
        const StoreStats first = cache.stats();
        pass();
        const StoreStats second = cache.stats();
        EXPECT_EQ(second.hits + second.misses - first.hits - first.misses, uint64_t(L * E));
        *transient_limit = cache.transient_limit();
        return second.hits - first.hits;
    };
    int64_t limit = 0;
    const uint64_t lfu_hits = second_pass_hits(CachePolicy::LfuDecay, &limit);
    EXPECT_GE(lfu_hits, uint64_t(slots - limit));
    EXPECT_EQ(limit, 8);   // a quarter of the slots, below one layer's 16 experts
    EXPECT_EQ(second_pass_hits(CachePolicy::Lru, &limit), 0u);
}

}  // namespace
}  // namespace sluice
