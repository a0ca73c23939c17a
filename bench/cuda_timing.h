// Shared by the CUDA micro-benchmarks: launches timed with CUDA events, one iteration each.
#pragma once
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include "cuda/check.h"

namespace sluice::bench {

inline bool have_device() {
    int devices = 0;
    return cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
}

// Times `launch` (enqueued on the default stream) with CUDA events; false without a device.
template <class Launch>
bool time_launches(benchmark::State& state, Launch launch) {
    if (!have_device()) {
        state.SkipWithError("no CUDA device");
        return false;
    }
    cudaEvent_t start, stop;
    SLUICE_CUDA_CHECK(cudaEventCreate(&start));
    SLUICE_CUDA_CHECK(cudaEventCreate(&stop));
    for (auto _ : state) {
        SLUICE_CUDA_CHECK(cudaEventRecord(start));
        launch();
        SLUICE_CUDA_CHECK(cudaEventRecord(stop));
        SLUICE_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        SLUICE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        state.SetIterationTime(double(ms) / 1e3);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return true;
}

}  // namespace sluice::bench
