// The AVX-512 kernel table (F/BW/DQ/VL/VNNI, compiled with those flags by cmake/simd.cmake):
// the x86 kernels with VNNI's vpdpbusd for the byte dot products, and on Intel 512-bit Q4_K,
// Q5_K and Q6_K kernels (dot_kquants_avx512.cpp). Measured per core (bench/RESULTS.md): on
// Sapphire Rapids the 512-bit ones are faster (Q4_K +5%, Q6_K +15%); on Zen 4, which splits
// 512-bit operations in two, the 256-bit ones are (Q4_K 20.8 vs 18.5 GB/s, Q5_K 19.8 vs 17.5,
// Q6_K equal).
#include "kernels/dot_kquants_avx512.h"
#include "kernels/dot_iq2_xxs_avx512vbmi.h"
#include "kernels/dot_iq_x86.h"
#include "kernels/dot_x86.h"
#include "quant/cpu_features.h"

namespace sluice::kernels {

namespace {

struct Avx512Ops {
    static __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
    static constexpr bool kFullBytes = true;  // u8 operands of dot_u8s8 may exceed 127
    static __m256i dot_i16(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_epi32(acc, a, b); }
};

}  // namespace

const KernelSet& avx512_kernels() {
    static const KernelSet set = [] {
        KernelSet k = x86::make_x86_kernels<Avx512Ops>(Isa::Avx512);
        x86::add_iq_kernels<Avx512Ops>(k);
        if (cpu_features().avx512vbmi && cpu_features().avx512bitalg) {
            k.types[uint32_t(GgmlType::IQ2_XXS)].dot = dot_iq2_xxs_avx512vbmi;
            k.types[uint32_t(GgmlType::IQ2_XXS)].dot_rows = dot_rows_iq2_xxs_avx512vbmi;
        }
        if (!cpu_features().amd) {
            // Matvec then runs the 512-bit kernel row by row too (dropping the 256-bit rows
            // kernel); interleaved Q4_K and Q6_K keep their kernels.
            k.types[uint32_t(GgmlType::Q4_K)].dot = dot_q4_k_avx512;
            k.types[uint32_t(GgmlType::Q4_K)].dot_rows = nullptr;
            k.types[uint32_t(GgmlType::Q5_K)].dot = dot_q5_k_avx512;
            k.types[uint32_t(GgmlType::Q5_K)].dot_rows = nullptr;
            k.types[uint32_t(GgmlType::Q6_K)].dot = dot_q6_k_avx512;
        }
        return k;
    }();
    return set;
}

}  // namespace sluice::kernels
