// The weights of one matrix × vector launch (matvec.cu, matvec_q8.cu), passed to the kernel by
// value: rows first[t] .. first[t + 1] − 1 of the launch are weight t's.
#pragma once
#include <cstdint>
#include <string>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"

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

}  // namespace sluice::cuda
