// Included after the intrinsics headers by the AVX-512 kernel files: GCC 12's avx512fintrin.h
// builds broadcasts and zero-extensions on _mm512_undefined_*(), which -Wuninitialized reports
// once they are inlined into the kernels.
#pragma once
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)   // a GCC-only warning group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
