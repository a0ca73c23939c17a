// The AVX2 + FMA + F16C kernel table (compiled with those flags by cmake/simd.cmake).
#include "kernels/dot_iq_x86.h"
#include "kernels/dot_x86.h"

namespace sluice::kernels {

namespace {

struct Avx2Ops {
    // pmaddubsw then pmaddwd: two instructions per 32 byte pairs.
    static __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
        return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
    }
    static constexpr bool kFullBytes = false;  // u8 operands of dot_u8s8 may exceed 127
    static __m256i dot_i16(__m256i acc, __m256i a, __m256i b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
};

}  // namespace

const KernelSet& avx2_kernels() {
    static const KernelSet set = [] {
        KernelSet k = x86::make_x86_kernels<Avx2Ops>(Isa::Avx2);
        x86::add_iq_kernels<Avx2Ops>(k);
        return k;
    }();
    return set;
}

}  // namespace sluice::kernels
