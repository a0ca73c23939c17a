// What the two matrix × vector kernels (matvec.cu on float activations, matvec_q8.cu on 8-bit
// ones) share: the weights of one launch, passed to the kernel by value (rows first[t] ..
// first[t + 1] − 1 of the launch are weight t's), the geometry (W warps a row, kMatvecBlockWarps / W
// rows a 128-thread block), and the sum and store of a row's partial dots.
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

struct MatvecTargets {
    const uint8_t* w[kMaxMatvecTargets];
    float* y[kMaxMatvecTargets];
    int64_t rows[kMaxMatvecTargets];
    int64_t first[kMaxMatvecTargets + 1];
    int count;
};

// Checks the launch's sizes (naming `op`) and gathers its weights.
inline MatvecTargets make_matvec_targets(const char* op, GgmlType type, const MatvecTarget* targets, int count,
                                         int64_t cols, int64_t n) {
    if (count < 1 || count > kMaxMatvecTargets)
        throw_error(std::string(op) + ": " + std::to_string(count) + " weights in one launch (1.." +
                    std::to_string(kMaxMatvecTargets) + ")");
    if (n < 1 || n > kMaxMatvecRows)
        throw_error(std::string(op) + ": " + std::to_string(n) + " activation rows (1.." + std::to_string(kMaxMatvecRows) +
                    ")");
    MatvecTargets t{};
    t.count = count;
    for (int i = 0; i < count; ++i) {
        check_matrix(op, type, targets[i].rows, cols);
        t.w[i] = static_cast<const uint8_t*>(targets[i].w);
        t.y[i] = targets[i].y;
        t.rows[i] = targets[i].rows;
        t.first[i + 1] = t.first[i] + targets[i].rows;
    }
    return t;
}

constexpr int kMatvecBlockWarps = 4;
constexpr int64_t kMatvecFewRows = 16384;  // fewer rows than this: split rows over warps

// Calls launch(integral_constant W, grid) with W warps a row: as many (1, 2 or 4) as leave every
// thread at least one of the row's `units`, or one when the rows alone fill the card.
template <class Launch>
void dispatch_matvec_warps(int64_t rows, int64_t units, Launch&& launch) {
    const int w = rows >= kMatvecFewRows ? 1 : units >= 4 * kWarp ? 4 : units >= 2 * kWarp ? 2 : 1;
    const unsigned grid = unsigned((rows * w + kMatvecBlockWarps - 1) / kMatvecBlockWarps);
    if (w == 4)
        launch(std::integral_constant<int, 4>{}, grid);
    else if (w == 2)
        launch(std::integral_constant<int, 2>{}, grid);
    else
        launch(std::integral_constant<int, 1>{}, grid);
}

// A thread's row: the launch's row g exists (valid), and is row r of weight t.
struct MatvecRow {
    int warp, lane;
    bool valid;
    int t;
    int64_t r;
};

template <int W>
__device__ inline MatvecRow matvec_row(const MatvecTargets& targets) {
    MatvecRow p;
    p.warp = threadIdx.x / kWarp;
    p.lane = threadIdx.x % kWarp;
    const int64_t g = int64_t(blockIdx.x) * (kMatvecBlockWarps / W) + p.warp / W;
    p.valid = g < targets.first[targets.count];
    p.t = 0;
    while (p.t + 1 < targets.count && g >= targets.first[p.t + 1]) ++p.t;
    p.r = g - targets.first[p.t];
    return p;
}

// Sums each lane's partial dots of the row (and the W warps' through `part`, shared memory of
// kMatvecBlockWarps × N) and stores the row's N outputs. Every thread of the block calls it.
template <int N, int W>
__device__ inline void store_matvec_row(float (&acc)[N], const MatvecRow& p, float (*part)[N],
                                        const MatvecTargets& targets) {
    for (int j = 0; j < N; ++j) acc[j] = warp_sum(acc[j]);
    if constexpr (W == 1) {
        if (p.valid && p.lane == 0)
            for (int j = 0; j < N; ++j) targets.y[p.t][j * targets.rows[p.t] + p.r] = acc[j];
    } else {
        if (p.lane == 0)
            for (int j = 0; j < N; ++j) part[p.warp][j] = acc[j];
        __syncthreads();
        if (p.valid && p.lane == 0 && p.warp % W == 0)
            for (int j = 0; j < N; ++j) {
                float s = part[p.warp][j];
                for (int v = 1; v < W; ++v) s += part[p.warp + v][j];
                targets.y[p.t][j * targets.rows[p.t] + p.r] = s;
            }
    }
}

}  // namespace sluice::cuda
