// IQ2_XXS against Q8_K with 512-bit byte permutes and bit shuffles (AVX-512 VBMI and BITALG: Ice
// Lake and later, Zen 4 and later), in the AVX-512 table where the CPU has them: the grid and sign tables live in
// registers, so a block's 32 grid lookups are a few permutes instead of 64 scalar loads and
// inserts (dot_iq_x86.h). Measured in bench/RESULTS.md.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sluice::kernels {

void dot_iq2_xxs_avx512vbmi(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out);
void dot_rows_iq2_xxs_avx512vbmi(int64_t n, const void* w, size_t w_stride, int nr, const void* x, float* out);

}  // namespace sluice::kernels
