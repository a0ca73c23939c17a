// Decode matrix × vector on the GPU per weight type: 256 MiB of 4096-wide rows (several times any
// card's L2, so the weights come from memory as a model's do) times one vector, timed with CUDA
// events; reports the weight bytes read per second. BM_DeviceCopy measures the card's memory
// bandwidth the same way (a 1 GiB device-to-device copy, bytes read + written): the roofline of
// decode. Needs a CUDA device; without one every case is skipped.
#include <benchmark/benchmark.h>

#include <vector>

#include "cuda/device_buffer.h"
#include "cuda/kernels.h"
#include "quant/types.h"

namespace {

using sluice::GgmlType;

void BM_CudaMatvec(benchmark::State& state, GgmlType type) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        state.SkipWithError("no CUDA device");
        return;
    }
    const int64_t cols = 4096, rows = int64_t((size_t(256) << 20) / sluice::row_bytes(type, cols));
    const size_t bytes = size_t(rows) * sluice::row_bytes(type, cols);
    // The kernel's speed does not depend on the values; zero blocks are valid for every type.
    sluice::cuda::DeviceBuffer<uint8_t> w(std::vector<uint8_t>(bytes, 0));
    sluice::cuda::DeviceBuffer<float> x(std::vector<float>(static_cast<size_t>(cols), 1.0f)), y(static_cast<size_t>(rows));
    cudaEvent_t start, stop;
    SLUICE_CUDA_CHECK(cudaEventCreate(&start));
    SLUICE_CUDA_CHECK(cudaEventCreate(&stop));
    for (auto _ : state) {
        SLUICE_CUDA_CHECK(cudaEventRecord(start));
        sluice::cuda::matvec(type, w.get(), rows, cols, x.get(), 1, y.get(), nullptr);
        SLUICE_CUDA_CHECK(cudaEventRecord(stop));
        SLUICE_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        SLUICE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        state.SetIterationTime(double(ms) / 1e3);
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
}

void BM_DeviceCopy(benchmark::State& state) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        state.SkipWithError("no CUDA device");
        return;
    }
    const size_t bytes = size_t(1) << 30;
    sluice::cuda::DeviceBuffer<uint8_t> a(bytes), b(bytes);
    cudaEvent_t start, stop;
    SLUICE_CUDA_CHECK(cudaEventCreate(&start));
    SLUICE_CUDA_CHECK(cudaEventCreate(&stop));
    for (auto _ : state) {
        SLUICE_CUDA_CHECK(cudaEventRecord(start));
        SLUICE_CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice));
        SLUICE_CUDA_CHECK(cudaEventRecord(stop));
        SLUICE_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        SLUICE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        state.SetIterationTime(double(ms) / 1e3);
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(2 * bytes));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
}

}  // namespace

BENCHMARK(BM_DeviceCopy)->UseManualTime()->Unit(benchmark::kMicrosecond);
#define SLUICE_MATVEC_BENCH(t) \
    BENCHMARK_CAPTURE(BM_CudaMatvec, t, GgmlType::t)->UseManualTime()->Unit(benchmark::kMicrosecond);
SLUICE_MATVEC_BENCH(F32)
SLUICE_MATVEC_BENCH(F16)
SLUICE_MATVEC_BENCH(BF16)
SLUICE_MATVEC_BENCH(Q8_0)
SLUICE_MATVEC_BENCH(Q4_0)
SLUICE_MATVEC_BENCH(Q4_1)
SLUICE_MATVEC_BENCH(Q5_0)
SLUICE_MATVEC_BENCH(Q5_1)
SLUICE_MATVEC_BENCH(Q2_K)
SLUICE_MATVEC_BENCH(Q3_K)
SLUICE_MATVEC_BENCH(Q4_K)
SLUICE_MATVEC_BENCH(Q5_K)
SLUICE_MATVEC_BENCH(Q6_K)
SLUICE_MATVEC_BENCH(IQ4_NL)
SLUICE_MATVEC_BENCH(IQ4_XS)

BENCHMARK_MAIN();
