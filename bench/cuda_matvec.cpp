// Decode matrix × vector on the GPU per weight type: 256 MiB of 4096-wide rows (several times any
// card's L2, so the weights come from memory as a model's do) times one vector, timed with CUDA
// events; reports the weight bytes read per second. BM_DeviceCopy measures the card's memory
// bandwidth the same way (a 1 GiB device-to-device copy, bytes read + written): the roofline of
// decode. Weights are real quantised blocks (64 random rows repeated), never zeros. BM_CudaMatvecQ8 and BM_CudaMmqMoe time the 8-bit-activation kernels (decode and
// prefill). Needs a CUDA device; without one every case is skipped.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "cuda/device_buffer.h"
#include "cuda/kernels.h"
#include "cuda_timing.h"
#include "quant/types.h"

namespace {

using sluice::GgmlType;
using sluice::bench::have_device;
using sluice::bench::time_launches;

// `rows` weight rows of `cols` values of `type` on the device: 64 distinct random rows,
// quantised, repeated (real blocks: all-zero ones can run faster than data).
sluice::cuda::DeviceBuffer<uint8_t> weight_rows(GgmlType type, int64_t rows, int64_t cols) {
    const size_t row = sluice::row_bytes(type, cols);
    std::vector<uint8_t> distinct(64 * row), all(size_t(rows) * row);
    std::mt19937 rng{uint32_t(type)};
    std::normal_distribution<float> value(0.0f, 1.0f);
    std::vector<float> src(static_cast<size_t>(cols));
    for (int r = 0; r < 64; ++r) {
        for (float& v : src) v = value(rng);
        sluice::quantize_row_ref(type, src.data(), distinct.data() + size_t(r) * row, cols);
    }
    for (int64_t r = 0; r < rows; ++r) std::memcpy(all.data() + size_t(r) * row, distinct.data() + size_t(r % 64) * row, row);
    return sluice::cuda::DeviceBuffer<uint8_t>(all);
}

std::vector<float> random_values(size_t n) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = value(rng);
    return v;
}

// 256 MiB of 4096-wide rows of `type`, a vector and the output.
struct MatvecOperands {
    static constexpr int64_t kCols = 4096;
    GgmlType type;
    int64_t rows;
    size_t bytes;
    sluice::cuda::DeviceBuffer<uint8_t> w;
    sluice::cuda::DeviceBuffer<float> x, y;
    explicit MatvecOperands(GgmlType t)
        : type(t),
          rows(int64_t((size_t(256) << 20) / sluice::row_bytes(t, kCols))),
          bytes(size_t(rows) * sluice::row_bytes(t, kCols)),
          w(weight_rows(t, rows, kCols)),
          x(random_values(size_t(kCols))),
          y(static_cast<size_t>(rows)) {}
};

void BM_CudaMatvec(benchmark::State& state, GgmlType type) {
    if (!have_device()) return state.SkipWithError("no CUDA device");
    MatvecOperands m(type);
    if (!time_launches(state, [&] {
            sluice::cuda::matvec(type, m.w.get(), m.rows, m.kCols, m.x.get(), 1, m.y.get(), nullptr);
        }))
        return;
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(m.bytes));
}

// The 8-bit-activation decode path (SLUICE_GPU_KERNELS=new): the vector quantised, then the dp4a
// matrix × vector, over the same 256 MiB as BM_CudaMatvec.
void BM_CudaMatvecQ8(benchmark::State& state, GgmlType type) {
    if (!have_device()) return state.SkipWithError("no CUDA device");
    MatvecOperands m(type);
    sluice::cuda::DeviceBuffer<uint8_t> xq(sluice::cuda::q8_activation_bytes(type, 1, m.kCols));
    const sluice::cuda::MatvecTarget target{m.w.get(), m.rows, m.y.get()};
    if (!time_launches(state, [&] {
            sluice::cuda::quantize_activations(type, m.x.get(), 1, m.kCols, xq.get(), nullptr);
            sluice::cuda::matvec_q8(type, &target, 1, m.kCols, xq.get(), 1, nullptr);
        }))
        return;
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(m.bytes));
}

// Prefill of one MoE projection on int8 tensor cores (SLUICE_GPU_KERNELS=new): Qwen3-30B-A3B's
// gate (128 experts of 768 × 2048 Q4_K) for a 512-token ubatch routed 8 ways, 32 tokens an
// expert, in one grouped launch, activations quantised first. Reports multiply-adds per second
// as "items" (2·items = FLOP) and the tokens of the ubatch as tokens per second.
void BM_CudaMmqMoe(benchmark::State& state) {
    const int64_t experts = 128, rows = 768, cols = 2048, per_expert = 32, tokens = experts * per_expert;
    const GgmlType type = GgmlType::Q4_K;
    const size_t expert_bytes = size_t(rows) * sluice::row_bytes(type, cols);
    if (!have_device()) return state.SkipWithError("no CUDA device");
    const sluice::cuda::DeviceBuffer<uint8_t> w = weight_rows(type, experts * rows, cols);
    std::vector<const void*> ptrs;
    std::vector<int32_t> ids;
    std::vector<int64_t> first, count;
    for (int64_t e = 0; e < experts; ++e) {
        ptrs.push_back(w.get() + size_t(e) * expert_bytes);
        ids.push_back(int32_t(e));
        first.push_back(e * per_expert);
        count.push_back(per_expert);
    }
    sluice::cuda::DeviceBuffer<const void*> dptrs(ptrs);
    const std::vector<sluice::cuda::MmqTile> tiles = sluice::cuda::mmq_tiles(ids, first, count);
    sluice::cuda::DeviceBuffer<sluice::cuda::MmqTile> dtiles(tiles);
    sluice::cuda::DeviceBuffer<float> x(random_values(size_t(tokens * cols))), y(size_t(tokens * rows));
    sluice::cuda::DeviceBuffer<uint8_t> xq(sluice::cuda::q8_activation_bytes(type, tokens, cols));
    if (!time_launches(state, [&] {
            sluice::cuda::quantize_activations(type, x.get(), tokens, cols, xq.get(), nullptr);
            sluice::cuda::mmq(type, dptrs.get(), nullptr, dtiles.get(), int64_t(tiles.size()), 0, rows, cols, xq.get(),
                              y.get(), nullptr);
        }))
        return;
    state.SetItemsProcessed(int64_t(state.iterations()) * tokens * rows * cols);
    state.counters["ubatch_tokens_per_s"] =
        benchmark::Counter(double(state.iterations()) * double(tokens / 8), benchmark::Counter::kIsRate);
}

void BM_DeviceCopy(benchmark::State& state) {
    if (!have_device()) return state.SkipWithError("no CUDA device");
    const size_t bytes = size_t(1) << 30;
    sluice::cuda::DeviceBuffer<uint8_t> a(bytes), b(bytes);
    if (!time_launches(state, [&] {
            SLUICE_CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice));
        }))
        return;
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(2 * bytes));
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
SLUICE_MATVEC_BENCH(IQ2_XXS)
#define SLUICE_MATVEC_Q8_BENCH(t) \
    BENCHMARK_CAPTURE(BM_CudaMatvecQ8, t, GgmlType::t)->UseManualTime()->Unit(benchmark::kMicrosecond);
SLUICE_MATVEC_Q8_BENCH(Q8_0)
SLUICE_MATVEC_Q8_BENCH(Q4_K)
SLUICE_MATVEC_Q8_BENCH(Q5_K)
SLUICE_MATVEC_Q8_BENCH(Q6_K)
SLUICE_MATVEC_Q8_BENCH(IQ2_XXS)
BENCHMARK(BM_CudaMmqMoe)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
