// One decode step of one attention layer at Qwen3-30B-A3B geometry (32 query heads, 4 KV heads,
// head_dim 128) over a KV cache of 4,096 or 32,768 positions in f32, f16 and q8_0: the part of
// decode that grows with the context. The step reads every cached position whatever the values,
// so the cache is left as allocated (zeros). Multiply by the 48 layers for a token's attention.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "model/attention.h"

namespace {

using sluice::KvCacheType;

constexpr int64_t kHeads = 32, kKvHeads = 4, kHeadDim = 128;

// args: cache type, context
void BM_DecodeAttention(benchmark::State& state) {
    const auto type = KvCacheType(state.range(0));
    const int64_t ctx = state.range(1);
    sluice::KvCache cache(type, ctx, kKvHeads, kHeadDim);
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto fill = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = normal(rng);
        return v;
    };
    const auto q = fill(kHeads * kHeadDim), k = fill(kKvHeads * kHeadDim), v = fill(kKvHeads * kHeadDim);
    std::vector<float> out(q.size());
    for (auto _ : state) {
        sluice::attention(q.data(), k.data(), v.data(), 1, ctx - 1, kHeads, cache, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.SetLabel(sluice::kv_cache_type_name(type));
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(cache.bytes()));
}
BENCHMARK(BM_DecodeAttention)
    ->ArgsProduct({{int64_t(KvCacheType::F32), int64_t(KvCacheType::F16), int64_t(KvCacheType::Q8_0)}, {4096, 32768}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
