#include "quant/cpu_features.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace sluice {

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = [] {
        CpuFeatures f;
#if defined(__x86_64__)
        // libgcc's checks include the OS's XSAVE support for the wider registers.
        __builtin_cpu_init();
        f.avx2 = __builtin_cpu_supports("avx2");
        f.fma = __builtin_cpu_supports("fma");
        // clang before 15 has no "f16c" for __builtin_cpu_supports (the fuzz build uses clang):
        // CPUID leaf 1, ECX bit 29, where the OS saves the YMM registers (as "avx" checks).
        unsigned a = 0, b = 0, c = 0, d = 0;
        f.f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) && __builtin_cpu_supports("avx");
        f.avx512f = __builtin_cpu_supports("avx512f");
        f.avx512bw = __builtin_cpu_supports("avx512bw");
        f.avx512dq = __builtin_cpu_supports("avx512dq");
        f.avx512vl = __builtin_cpu_supports("avx512vl");
        f.avx512vnni = __builtin_cpu_supports("avx512vnni");
        f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
        f.avx512vbmi = __builtin_cpu_supports("avx512vbmi");
        f.avx512bitalg = __builtin_cpu_supports("avx512bitalg");
        f.amd = __builtin_cpu_is("amd");
#endif
        return f;
    }();
    return features;
}

}  // namespace sluice
