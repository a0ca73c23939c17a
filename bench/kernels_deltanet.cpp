// Gated DeltaNet for one linear-attention layer at Qwen3.5-35B-A3B geometry (nk 16, nv 32,
// dk = dv = 128, Kc 4, tiled v-heads): prefill of a 2,048-token prompt and single-token decode,
// per delta-rule path and thread count. Projections are not included (they are matmuls).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/deltanet.h"

namespace {

using sluice::DeltaNetPath;

const sluice::DeltaNetDims kDims{16, 32, 128, 128, 4, true};
constexpr int64_t kPrompt = 2048;

struct Layer {
    std::vector<float> conv_w, A_log, dt_bias, mixed, a, b, out;

    explicit Layer(int64_t T) {
        std::mt19937 rng(1);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        auto fill = [&](int64_t n, float scale) {
            std::vector<float> v(static_cast<size_t>(n));
            for (float& x : v) x = scale * normal(rng);
            return v;
        };
        conv_w = fill(int64_t(kDims.conv_dim()) * kDims.conv_kernel, 0.5f);
        A_log = fill(kDims.n_v_heads, 0.5f);
        dt_bias = fill(kDims.n_v_heads, 0.5f);
        mixed = fill(T * kDims.conv_dim(), 1.0f);
        a = fill(T * kDims.n_v_heads, 1.0f);
        b = fill(T * kDims.n_v_heads, 1.0f);
        out.resize(size_t(T * kDims.value_dim()));
    }
    sluice::DeltaNetWeights weights() const {
        return {conv_w.data(), A_log.data(), sluice::DecayForm::ALog, dt_bias.data()};
    }
};

const char* label(DeltaNetPath p) {
    switch (p) {
        case DeltaNetPath::Recurrent: return "recurrent";
        case DeltaNetPath::Scan: return "scan";
        case DeltaNetPath::ScanPortable: return "scan-portable";
        default: return "auto";
    }
}

// args: path, threads
void BM_DeltaNetPrefill(benchmark::State& state) {
    const auto path = DeltaNetPath(state.range(0));
    sluice::ThreadPool pool(int(state.range(1)));
    Layer layer(kPrompt);
    sluice::DeltaNetState st(kDims);
    for (auto _ : state) {
        st.reset();
        sluice::deltanet_forward(kDims, layer.weights(), st, kPrompt, layer.mixed.data(), layer.a.data(),
                                 layer.b.data(), layer.out.data(), pool, path);
        benchmark::DoNotOptimize(layer.out.data());
    }
    state.SetLabel(label(path));
    state.counters["tok/s"] = benchmark::Counter(double(kPrompt), benchmark::Counter::kIsIterationInvariantRate);
}

// args: path, threads. One token per iteration, the state carried on.
void BM_DeltaNetDecode(benchmark::State& state) {
    const auto path = DeltaNetPath(state.range(0));
    sluice::ThreadPool pool(int(state.range(1)));
    Layer layer(1);
    sluice::DeltaNetState st(kDims);
    for (auto _ : state) {
        sluice::deltanet_forward(kDims, layer.weights(), st, 1, layer.mixed.data(), layer.a.data(), layer.b.data(),
                                 layer.out.data(), pool, path);
        benchmark::DoNotOptimize(layer.out.data());
    }
    state.SetLabel(label(path));
    state.counters["tok/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}

void Paths(benchmark::internal::Benchmark* b) {
    for (DeltaNetPath p : {DeltaNetPath::Recurrent, DeltaNetPath::Scan, DeltaNetPath::ScanPortable})
        for (int threads : {1, 2}) b->Args({int64_t(p), threads});
}

}  // namespace

BENCHMARK(BM_DeltaNetPrefill)->Apply(Paths)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DeltaNetDecode)->Apply(Paths)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_MAIN();
