// Decode's inner loop: matrix × vector over weights streamed from memory, in GB/s of weight
// bytes, next to the machine's read bandwidth measured in the same run.
//
//   build-q/bin/kernels_matvec [--benchmark_filter=...]
//
// BM_ReadBandwidth: a plain streaming sum over a 1 GiB buffer (≫ L3), 1 and 2 threads.
//
// The development VM shares its host: throughput varies 2× from minute to minute. Compare
// figures taken in one run with --benchmark_repetitions=N --benchmark_enable_random_interleaving
// and read the "max" rows (the best repetition of each, all sampled across the same period).
// BM_Matvec/<type>/<threads>/<isa>/<interleaved>: expert-sized matvecs (768 rows × 2048 columns,
//   the Qwen3-30B-A3B expert gate) that walk through 1 GiB of weights, so every byte comes from
//   DRAM; interleaved = 1: Q4_K / Q6_K repacked eight rows at a time (kernels/repack.h), as decode
//   runs them.
// BM_MatvecViaFloat/<type>/<threads>: the alternative to 8-bit activations: each weight row
//   dequantised to float in L1 and multiplied by the float activations with FMA.
// BM_Prefill/<type>/<isa>: 64 tokens through a 2048 × 2048 matrix (resident in cache), the
//   compute-bound case, in weight rows × tokens per second.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernels/dot.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"

namespace sluice {
namespace {

constexpr size_t kStreamBytes = size_t(1) << 30;
constexpr int64_t kCols = 2048, kExpertRows = 768;

ThreadPool& pool(int threads) {
    static ThreadPool one(1), two(2);
    return threads == 1 ? one : two;
}

// A row of a type sluice does not quantise to (the grid-indexed IQ types): random bytes, which
// are valid blocks, with the half-precision scale (IQ1_M: its four nibbles) set to 2^-7.
void random_iq_row(GgmlType t, uint8_t* dst, size_t bytes, std::mt19937_64& rng) {
    const size_t block = type_info(t).block_bytes;
    const uint16_t d = 0x2000;  // 2^-7 as half
    for (size_t i = 0; i < bytes; ++i) dst[i] = uint8_t(rng());
    for (uint8_t* p = dst; p < dst + bytes; p += block) {
        if (t != GgmlType::IQ1_M) std::memcpy(p, &d, 2);
        else for (int k = 0; k < 4; ++k) p[49 + 2 * k] = uint8_t((p[49 + 2 * k] & 0x0F) | ((d >> (4 * k)) & 0xF) << 4);
    }
}

// 1 GiB of weights of one type (the previous type's buffer is freed first), filled by copying
// a few thousand quantised random rows: valid blocks, at memcpy speed.
const uint8_t* weights(GgmlType t, int64_t& rows) {
    static GgmlType held = GgmlType::F32;
    static std::unique_ptr<uint8_t[]> buffer;
    const size_t rb = row_bytes(t, kCols);
    rows = int64_t(kStreamBytes / rb);
    if (!buffer || held != t) {
        buffer.reset();
        buffer.reset(new uint8_t[size_t(rows) * rb]);
        held = t;
        const int64_t distinct = 4096;
        std::mt19937_64 rng(1);
        std::normal_distribution<float> normal(0.0f, 0.02f);
        std::vector<float> row(static_cast<size_t>(kCols));
        for (int64_t r = 0; r < distinct; ++r) {
            for (auto& v : row) v = normal(rng);
            if (can_quantize(t)) quantize_row_ref(t, row.data(), buffer.get() + size_t(r) * rb, kCols);
            else random_iq_row(t, buffer.get() + size_t(r) * rb, rb, rng);
        }
        for (int64_t r = distinct; r < rows; ++r)
            std::memcpy(buffer.get() + size_t(r) * rb, buffer.get() + size_t(r % distinct) * rb, rb);
    }
    return buffer.get();
}

std::vector<float> activations(int64_t n) {
    std::mt19937_64 rng(2);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = normal(rng);
    return x;
}

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                           GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K,
                           GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS,
                           GgmlType::MXFP4,
                           GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S, GgmlType::IQ3_XXS, GgmlType::IQ3_S,
                           GgmlType::IQ1_S, GgmlType::IQ1_M};

void BM_ReadBandwidth(benchmark::State& state) {
    const int threads = int(state.range(0));
    static std::unique_ptr<uint64_t[]> buffer;
    const size_t words = kStreamBytes / 8;
    if (!buffer) {
        buffer.reset(new uint64_t[words]);
        for (size_t i = 0; i < words; ++i) buffer[i] = i;
    }
    uint64_t total = 0;
    for (auto _ : state) {
        uint64_t sums[2] = {};
        pool(threads).parallel_for(
            int64_t(words), [&](int tid, int64_t b, int64_t e) {
                // Two cache lines ahead of the loads, as matvec prefetches its rows.
                uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (int64_t i = b; i + 8 <= e; i += 8) {
                    __builtin_prefetch(&buffer[size_t(i) + 256]);
                    s0 += buffer[size_t(i)] + buffer[size_t(i) + 4];
                    s1 += buffer[size_t(i) + 1] + buffer[size_t(i) + 5];
                    s2 += buffer[size_t(i) + 2] + buffer[size_t(i) + 6];
                    s3 += buffer[size_t(i) + 3] + buffer[size_t(i) + 7];
                }
                sums[tid] = s0 + s1 + s2 + s3;
            },
            1 << 16);
        total += sums[0] + sums[1];
    }
    benchmark::DoNotOptimize(total);
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kStreamBytes));
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond)->ComputeStatistics("max", max_of);

// weights(t) (Q4_K or Q6_K) repacked eight rows at a time (kernels/repack.h), as decode runs them.
const uint8_t* interleaved(GgmlType t, int64_t& rows) {
    const uint8_t* plain = weights(t, rows);
    static GgmlType held = GgmlType::F32;
    static std::unique_ptr<uint8_t[]> packed;
    if (!packed || held != t) {
        packed.reset();
        packed.reset(new uint8_t[size_t(rows) * row_bytes(t, kCols)]);
        held = t;
        kernels::repack(Weight{t, plain, rows, kCols}, packed.get());
    }
    return packed.get();
}

void BM_Matvec(benchmark::State& state) {
    const GgmlType t = GgmlType(state.range(0));
    const int threads = int(state.range(1));
    const auto isa = kernels::Isa(state.range(2));
    const Layout layout = state.range(3) ? Layout::Interleaved8 : Layout::Rows;
    if (!kernels::isa_supported(isa)) {
        state.SkipWithError("instruction set not supported");
        return;
    }
    kernels::set_active_isa(isa);
    int64_t rows;
    const uint8_t* w = layout == Layout::Interleaved8 ? interleaved(t, rows) : weights(t, rows);
    const size_t rb = row_bytes(t, kCols);
    const std::vector<float> x = activations(kCols);
    std::vector<float> y(static_cast<size_t>(kExpertRows));
    int64_t at = 0, bytes = 0;
    for (auto _ : state) {
        if (at + kExpertRows > rows) at = 0;
        matvec(Weight{t, w + size_t(at) * rb, kExpertRows, kCols, layout}, x.data(), y.data(), pool(threads));
        at += kExpertRows;
        bytes += int64_t(kExpertRows * rb);
    }
    benchmark::DoNotOptimize(y.data());
    state.SetBytesProcessed(bytes);
    state.SetLabel(std::string(type_name(t)) + (layout == Layout::Interleaved8 ? " x8 " : " ") + kernels::isa_name(isa));
}

void matvec_args(benchmark::internal::Benchmark* b) {
    const int64_t avx512 = int64_t(kernels::Isa::Avx512), avx2 = int64_t(kernels::Isa::Avx2);
    for (GgmlType t : kTypes)
        for (int threads : {1, 2}) b->Args({int64_t(t), threads, avx512, 0});
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::IQ2_XXS})
        for (auto isa : {kernels::Isa::Avx2, kernels::Isa::Portable}) b->Args({int64_t(t), 2, int64_t(isa), 0});
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K}) {
        const int64_t i = int64_t(t);
        for (auto args : {std::vector<int64_t>{i, 1, avx512, 1}, {i, 2, avx512, 1}, {i, 2, avx2, 1}}) b->Args(args);
    }
}
BENCHMARK(BM_Matvec)->Apply(matvec_args)->UseRealTime()->MinTime(0.5)->ComputeStatistics("max", max_of);

// Each row dequantised to float (into L1) and dotted with FMA: what matvec would cost without
// 8-bit activations.
void BM_MatvecViaFloat(benchmark::State& state) {
    const GgmlType t = GgmlType(state.range(0));
    const int threads = int(state.range(1));
    kernels::set_active_isa(kernels::isa_supported(kernels::Isa::Avx512) ? kernels::Isa::Avx512 : kernels::Isa::Avx2);
    const kernels::KernelSet& ks = kernels::active_kernels();
    int64_t rows;
    const uint8_t* w = weights(t, rows);
    const size_t rb = row_bytes(t, kCols);
    const std::vector<float> x = activations(kCols);
    std::vector<float> y(static_cast<size_t>(kExpertRows));
    int64_t at = 0, bytes = 0;
    for (auto _ : state) {
        if (at + kExpertRows > rows) at = 0;
        const uint8_t* base = w + size_t(at) * rb;
        pool(threads).parallel_for(
            kExpertRows, [&](int, int64_t r0, int64_t r1) {
                float row[kCols];
                for (int64_t r = r0; r < r1; ++r) {
                    ks[t].dequantize(base + size_t(r) * rb, row, kCols);
                    ks[GgmlType::F32].dot(kCols, row, x.data(), 0, 1, &y[size_t(r)]);
                }
            },
            16);
        at += kExpertRows;
        bytes += int64_t(kExpertRows * rb);
    }
    benchmark::DoNotOptimize(y.data());
    state.SetBytesProcessed(bytes);
    state.SetLabel(type_name(t));
}
BENCHMARK(BM_MatvecViaFloat)
    ->Args({int64_t(GgmlType::Q8_0), 1})
    ->Args({int64_t(GgmlType::Q8_0), 2})
    ->Args({int64_t(GgmlType::Q4_K), 1})
    ->Args({int64_t(GgmlType::Q4_K), 2})
    ->Args({int64_t(GgmlType::Q6_K), 1})
    ->Args({int64_t(GgmlType::Q6_K), 2})
    ->UseRealTime()
    ->MinTime(0.5)
    ->ComputeStatistics("max", max_of);

void BM_Prefill(benchmark::State& state) {
    const GgmlType t = GgmlType(state.range(0));
    const auto isa = kernels::Isa(state.range(1));
    const bool via_float = state.range(2) != 0;
    if (!kernels::isa_supported(isa)) {
        state.SkipWithError("instruction set not supported");
        return;
    }
    kernels::set_active_isa(isa);
    const int64_t rows = 2048, n = 64;
    int64_t all_rows;
    const uint8_t* w = weights(t, all_rows);
    const std::vector<float> x = activations(n * kCols);
    std::vector<float> y(size_t(n * rows));
    const Weight weight{t, w, rows, kCols};
    const kernels::KernelSet& ks = kernels::active_kernels();
    for (auto _ : state) {
        if (!via_float) {
            matmul(weight, x.data(), n, y.data(), pool(1));
            continue;
        }
        // The float alternative: dequantise each row once, FMA it against every token.
        float row[kCols];
        for (int64_t r = 0; r < rows; ++r) {
            ks[t].dequantize(weight.row(r), row, kCols);
            for (int64_t c = 0; c < n; c += kernels::kMaxCols)
                ks[GgmlType::F32].dot(kCols, row, x.data() + c * kCols, kCols * 4, kernels::kMaxCols, &y[size_t(c)]);
        }
    }
    benchmark::DoNotOptimize(y.data());
    state.counters["weight_rows_x_tokens_per_s"] =
        benchmark::Counter(double(rows * n), benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(std::string(type_name(t)) + " " + kernels::isa_name(isa) + (via_float ? " via float" : ""));
}

void prefill_args(benchmark::internal::Benchmark* b) {
    for (GgmlType t : {GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,
                       GgmlType::IQ4_XS, GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ3_XXS, GgmlType::IQ1_M})
        for (auto isa : {kernels::Isa::Avx512, kernels::Isa::Avx2}) b->Args({int64_t(t), int64_t(isa), 0});
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) b->Args({int64_t(t), int64_t(kernels::Isa::Avx512), 1});
}
BENCHMARK(BM_Prefill)->Apply(prefill_args)->UseRealTime()->Unit(benchmark::kMillisecond)->ComputeStatistics("max", max_of);

}  // namespace
}  // namespace sluice

BENCHMARK_MAIN();
