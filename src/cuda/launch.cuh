// Launch geometry and argument checks shared by the element-wise and per-row launchers.
#pragma once
#include <string>

#include "cuda/check.h"

namespace sluice::cuda {

constexpr int kElementThreads = 256;

inline unsigned element_blocks(int64_t count) { return unsigned((count + kElementThreads - 1) / kElementThreads); }

// Throws "<op>: <what> is <value>, must be positive" (or non-negative).
inline void check_positive(const char* op, const char* what, int64_t value) {
    if (value <= 0) throw_error(std::string(op) + ": " + what + " is " + std::to_string(value) + ", must be positive");
}
inline void check_non_negative(const char* op, const char* what, int64_t value) {
    if (value < 0) throw_error(std::string(op) + ": " + what + " is " + std::to_string(value) + ", must be >= 0");
}

}  // namespace sluice::cuda
