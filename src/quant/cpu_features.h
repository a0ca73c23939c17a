// The x86 instruction-set extensions the kernels can use, detected once at run time (the
// CPU and the OS both have to support them).
#pragma once

namespace sluice {

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;                       // the AVX2 kernels
    bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
    bool avx512vnni = false, avx512bf16 = false;                        // the AVX-512 kernels
    bool avx512vbmi = false;   // byte permutes and
    bool avx512bitalg = false; // bit shuffles: the AVX-512 IQ2_XXS kernel (dot_iq2_xxs_avx512vbmi.cpp)
    bool amd = false;   // AMD's Zen 4 executes 512-bit vector operations as two 256-bit halves
};

const CpuFeatures& cpu_features();

}  // namespace sluice
