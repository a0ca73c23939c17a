// The int8 tensor-core prefill kernel's block logic (src/cuda/mmq_tile.h, what mmq.cu runs) on
// the CPU: every thread of a block runs its loads, every lane its step, in turn, with shared
// memory in a host struct filled with garbage first (a read of something no thread wrote shows
// up) and the tensor-core product emulated from the same shared memory by the fragment layout the
// kernel assumes (lane (g, q) gets rows g and g + 8 by columns 2q and 2q + 1: PTX ISA,
// mma.m16n8k16 integer fragments). The kernel's claim is tested as it is: every output equals the
// portable CPU dot of the same quantised operands bit for bit (bound 0). What this cannot check is
// the hardware's side of that layout; tests/cuda/mmq_test.cpp does, on a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "cuda/mmq_tile.h"
#include "kernels/dot.h"
#include "mmq_operands.h"
#include "quant/test_rows.h"

namespace sluice {
namespace {

namespace tile = cuda::mmq_tile;

struct EmulatedMma {
    int lane;
    void operator()(int (&d)[4], const tile::Shared& sh, int r_lo, int j, int k0) const {
        const int q = lane % 4;
        for (int e = 0; e < 4; ++e) {
            const int row = e < 2 ? r_lo : r_lo + 8, token = 8 * j + 2 * q + e % 2;
            for (int k = k0; k < k0 + 16; ++k) d[e] += int(sh.w[row][k]) * int(sh.x[token][k]);
        }
    }
};

// One launch: blocks over (64-row tiles) × spans, as the kernel's grid.
template <GgmlType T>
void emulate(const std::vector<tile::Span>& spans, int64_t rows, int64_t cols, const void* xq, float* y) {
    using Unit = q8::Q8Unit<T>;
    const auto* x = static_cast<const typename Unit::Act*>(xq);
    const int64_t blocks = cols / Unit::kValues;
    const int steps = int((cols + tile::kStep - 1) / tile::kStep);
    const size_t stride = row_bytes(T, cols);
    auto sh = std::make_unique<tile::Shared>();
    for (const tile::Span& span : spans)
        for (int64_t row0 = 0; row0 < rows; row0 += tile::kRows) {
            std::memset(sh.get(), 0x5A, sizeof(tile::Shared));
            float acc[4][tile::kWarpLanes][4][4] = {};
            for (int s = 0; s < steps; ++s) {
                for (int thread = 0; thread < tile::kThreads; ++thread)
                    tile::load_step<T>(*sh, span, x, stride, rows, blocks, row0, s, thread);
                for (int warp = 0; warp < 4; ++warp)
                    for (int lane = 0; lane < tile::kWarpLanes; ++lane)
                        tile::compute_step<T>(*sh, blocks, s, warp, lane, acc[warp][lane], EmulatedMma{lane});
            }
            for (int warp = 0; warp < 4; ++warp)
                for (int lane = 0; lane < tile::kWarpLanes; ++lane)
                    tile::store_outputs(acc[warp][lane], span, rows, row0, warp, lane, y);
        }
}

// Spans of at most 32 tokens over groups (first, count) with their weights, as mmq_tiles cuts them.
std::vector<tile::Span> spans(const std::vector<const uint8_t*>& w, const std::vector<int64_t>& first,
                              const std::vector<int64_t>& count) {
    std::vector<tile::Span> out;
    for (size_t i = 0; i < w.size(); ++i)
        for (int64_t t0 = 0; t0 < count[i]; t0 += tile::kTokens)
            out.push_back({w[i], first[i] + t0, int(std::min<int64_t>(tile::kTokens, count[i] - t0))});
    return out;
}

template <GgmlType T>
void check_type() {
    const std::vector<int64_t> lengths = T == GgmlType::Q8_0 ? std::vector<int64_t>{32, 288, 800} : std::vector<int64_t>{256, 768};
    for (int64_t cols : lengths) {
        // Three weights over 80 token rows: groups of 1, 40 (a 32-token span and 8) and 33 tokens;
        // rows 1..5 and 79 in no group, and 70 weight rows (a full 64-row tile and 6).
        const int64_t rows = 70, n = 80;
        std::vector<std::vector<uint8_t>> w;
        for (int e = 0; e < 3; ++e) w.push_back(test::mmq_weight_bytes(T, rows, cols, uint64_t(cols + e)));
        const std::vector<const uint8_t*> weight = {w[2].data(), w[0].data(), w[1].data()};
        const std::vector<int64_t> first = {0, 6, 46}, count = {1, 40, 33};
        const test::MmqActivations a = test::mmq_activations(T, test::quant_test_row(n * cols, uint64_t(cols)), n, cols);
        std::vector<float> y(size_t(n * rows), -7.0f);
        emulate<T>(spans(weight, first, count), rows, cols, a.gpu.data(), y.data());
        test::expect_grouped_outputs(T, y, n, rows, cols, weight, first, count, a);
    }
}

TEST(CudaMmqTile, Q4KIsThePortableDotBitForBit) { check_type<GgmlType::Q4_K>(); }
TEST(CudaMmqTile, Q5KIsThePortableDotBitForBit) { check_type<GgmlType::Q5_K>(); }
TEST(CudaMmqTile, Q6KIsThePortableDotBitForBit) { check_type<GgmlType::Q6_K>(); }
TEST(CudaMmqTile, Q8_0IsThePortableDotBitForBit) { check_type<GgmlType::Q8_0>(); }
TEST(CudaMmqTile, Iq2XxsIsThePortableDotBitForBit) { check_type<GgmlType::IQ2_XXS>(); }
TEST(CudaMmqTile, Iq2XsIsThePortableDotBitForBit) { check_type<GgmlType::IQ2_XS>(); }
TEST(CudaMmqTile, Iq2SIsThePortableDotBitForBit) { check_type<GgmlType::IQ2_S>(); }
TEST(CudaMmqTile, Iq3XxsIsThePortableDotBitForBit) { check_type<GgmlType::IQ3_XXS>(); }
TEST(CudaMmqTile, Iq3SIsThePortableDotBitForBit) { check_type<GgmlType::IQ3_S>(); }

}  // namespace
}  // namespace sluice
