// 512-bit kernels for the K-quants that carry most decode traffic (Q4_K, Q5_K, Q6_K), which
// replace the 256-bit ones in the AVX-512 table: one instruction unpacks 64 levels, and VNNI's
// vpdpwssd scales and accumulates sub-block sums in one step, about half the instructions per
// weight of dot_x86.h (bench/RESULTS.md).
#pragma once
#include <cstddef>
#include <cstdint>

namespace sluice::kernels {

void dot_q4_k_avx512(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out);
void dot_q5_k_avx512(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out);
void dot_q6_k_avx512(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out);

}  // namespace sluice::kernels
