// The AVX-512 kernel table (F/BW/DQ/VL/VNNI, compiled with those flags by cmake/simd.cmake):
// the x86 kernels with VNNI's vpdpbusd for the byte dot products, and 512-bit Q4_K, Q5_K and
// Q6_K kernels (dot_kquants_avx512.cpp).
#include "kernels/dot_kquants_avx512.h"
#include "kernels/dot_x86.h"

namespace sluice::kernels {

namespace {

struct Avx512Ops {
    static __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
};

}  // namespace

const KernelSet& avx512_kernels() {
    static const KernelSet set = [] {
        KernelSet k = x86::make_x86_kernels<Avx512Ops>(Isa::Avx512);
        k.types[uint32_t(GgmlType::Q4_K)].dot = dot_q4_k_avx512;
        k.types[uint32_t(GgmlType::Q5_K)].dot = dot_q5_k_avx512;
        k.types[uint32_t(GgmlType::Q6_K)].dot = dot_q6_k_avx512;
        return k;
    }();
    return set;
}

}  // namespace sluice::kernels
