// Decode attention on the GPU: one token over a context of 1k to 32k positions in the Qwen3-30B-A3B
// geometry (32 query heads, 4 KV heads, head_dim 128, f16 cache as sluice's default), the
// per-head kernels (attention) beside the grouped ones (attention_grouped, what `new` runs),
// timed with CUDA events: the token's K/V store, the split kernel and the merge of its ranges.
// One layer's attention; a token runs it once a layer. Needs a CUDA device.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "cuda/device_buffer.h"
#include "cuda/kernels.h"
#include "cuda_timing.h"

namespace {

void BM_CudaDecodeAttention(benchmark::State& state, bool grouped) {
    using namespace sluice;
    if (!bench::have_device()) return state.SkipWithError("no CUDA device");
    const int64_t positions = state.range(0), heads = 32, kv_heads = 4, head_dim = 128;
    const KvCacheType type = KvCacheType::F16;
    const size_t side = cuda::kv_cache_side_bytes(type, positions, kv_heads, head_dim);
    cuda::DeviceBuffer<uint8_t> k_cache(side), v_cache(side);
    // 0x2e2e: the half 0.0966 everywhere (the kernels' speed does not depend on the values).
    SLUICE_CUDA_CHECK(cudaMemset(k_cache.get(), 0x2e, side));
    SLUICE_CUDA_CHECK(cudaMemset(v_cache.get(), 0x2e, side));
    const cuda::KvCacheView view{k_cache.get(), v_cache.get(), positions, kv_heads, head_dim, type};
    std::vector<float> host(size_t(heads * head_dim));
    for (size_t i = 0; i < host.size(); ++i) host[i] = float(int(i % 17) - 8) / 8.0f;
    cuda::DeviceBuffer<float> q(host), k(std::vector<float>(host.begin(), host.begin() + kv_heads * head_dim)),
        v(std::vector<float>(host.begin(), host.begin() + kv_heads * head_dim)), out(host.size()),
        scratch(std::max<size_t>(1, cuda::attention_scratch_floats(1, positions - 1, heads, kv_heads, head_dim)));
    bench::time_launches(state, [&] {
        if (grouped)
            cuda::attention_grouped(q.get(), k.get(), v.get(), 1, positions - 1, heads, view, out.get(), scratch.get(),
                                    nullptr);
        else
            cuda::attention(q.get(), k.get(), v.get(), 1, positions - 1, heads, view, out.get(), scratch.get(), nullptr);
    });
}

}  // namespace

BENCHMARK_CAPTURE(BM_CudaDecodeAttention, per_head, false)
    ->Arg(1024)->Arg(4096)->Arg(16384)->Arg(32768)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_CudaDecodeAttention, grouped, true)
    ->Arg(1024)->Arg(4096)->Arg(16384)->Arg(32768)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
