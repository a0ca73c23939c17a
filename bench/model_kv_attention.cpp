// One decode step of one attention layer at Qwen3-30B-A3B geometry (32 query heads, 4 KV heads,
// head_dim 128) over a KV cache of 4,096 or 32,768 positions in f32, f16 and q8_0, on each
// instruction set: the part of decode that grows with the context. The step reads every cached
// position whatever the values, so the cache is left as allocated (zeros). Multiply by the 48
// layers for a token's attention.
//
// One thread, timed in CPU time: a per-core figure that other jobs on a shared machine do not
// inflate (with a pool of threads the waiting ones spin, and preemption shows up in real time).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/dot.h"
#include "model/attention.h"
#include "util/thread_pool.h"

namespace {

using sluice::KvCacheType;
using sluice::kernels::Isa;

constexpr int64_t kHeads = 32, kKvHeads = 4, kHeadDim = 128;

// args: cache type, context, instruction set
void BM_DecodeAttention(benchmark::State& state) {
    const auto type = KvCacheType(state.range(0));
    const int64_t ctx = state.range(1);
    const auto isa = Isa(state.range(2));
    if (!sluice::kernels::isa_supported(isa)) {
        state.SkipWithError("instruction set not supported");
        return;
    }
    sluice::kernels::set_active_isa(isa);
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
    state.SetLabel(std::string(sluice::kv_cache_type_name(type)) + " " + sluice::kernels::isa_name(isa));
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(cache.bytes()));
}
BENCHMARK(BM_DecodeAttention)
    ->ArgsProduct({{int64_t(KvCacheType::F32), int64_t(KvCacheType::F16), int64_t(KvCacheType::Q8_0)},
                   {4096, 32768},
                   {int64_t(Isa::Avx512), int64_t(Isa::Avx2), int64_t(Isa::Portable)}})
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    sluice::ThreadPool::set_default_threads(1);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
