// The arithmetic of the GPU's 8-bit-activation kernels (quantize_q8.cu, matvec_q8.cu, moe_q8.cu,
// mmq.cu), written once for the device and the host so that a CPU test
// (tests/kernels/cuda_q8_arith_test.cpp) checks it against the CPU's kernels where no GPU exists.
//
// The GPU follows the CPU's quantised path (kernels/dot.h): activations are quantised to 8 bits
// exactly as the CPU quantises them (Q8_K for Q4_K/Q5_K/Q6_K and the IQ grid types, Q8_0 for Q8_0 weights;
// every float step rounded once, in the CPU's order, no fused multiply-add), the weight levels
// are multiplied with them in integers (dp4a / int8 tensor cores), and each integer sum is scaled
// as the portable CPU kernel scales it. A "unit" is 32 values (a Q8_0 block, a K-quant's 32-value
// sub-block): decode deals units to threads and scales each unit's sums on its own
// (unit_term); prefill sums whole blocks in integers and scales once per block, as the CPU does
// (block_term). Compiled by nvcc in C++17 and by the C++20 host code.
#pragma once
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/types.h"
#include "util/half.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define SLUICE_HD __host__ __device__
#else
#define SLUICE_HD
#endif

namespace sluice::q8 {

// ---- float steps rounded once each (nvcc would otherwise fuse a·b + c) ----------------------------
SLUICE_HD inline float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
SLUICE_HD inline float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
SLUICE_HD inline float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}
SLUICE_HD inline float div_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}
// float(i), round to nearest even (as the host's conversion).
SLUICE_HD inline float to_float(int i) {
#ifdef __CUDA_ARCH__
    return __int2float_rn(i);
#else
    return float(i);
#endif
}
SLUICE_HD inline float half_to_float(uint16_t h) {
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(h));
#else
    return f16_to_f32(h);
#endif
}
SLUICE_HD inline uint16_t float_to_half(float f) {
#ifdef __CUDA_ARCH__
    return __half_as_ushort(__float2half_rn(f));
#else
    return f32_to_f16(f);
#endif
}
// quant/scale_search.h's nearest_int: x + 1.5·2^23 rounds to an integer (ties to even).
SLUICE_HD inline int nearest_int(float x) {
    const float biased = add_rn(x, 12582912.0f);
#ifdef __CUDA_ARCH__
    const int32_t bits = __float_as_int(biased);
#else
    int32_t bits;
    std::memcpy(&bits, &biased, 4);
#endif
    return (bits & 0x007fffff) - 0x00400000;
}

// c + Σ of the four signed byte products of a and b (the dp4a instruction).
SLUICE_HD inline int dot4(int a, int b, int c) {
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, c);
#else
    for (int i = 0; i < 4; ++i) c += int(int8_t(uint32_t(a) >> (8 * i))) * int(int8_t(uint32_t(b) >> (8 * i)));
    return c;
#endif
}

// Four bytes at p, which is 2-byte aligned (Q6_K and Q8_0 blocks are 210 and 34 bytes long).
SLUICE_HD inline int load4_a2(const uint8_t* p) {
#ifdef __CUDA_ARCH__
    const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
    return int(uint32_t(h[0]) | uint32_t(h[1]) << 16);
#else
    int v;
    std::memcpy(&v, p, 4);
    return v;
#endif
}
// Four bytes at p, 4-byte aligned.
SLUICE_HD inline int load4(const void* p) {
#ifdef __CUDA_ARCH__
    return *reinterpret_cast<const int*>(p);
#else
    int v;
    std::memcpy(&v, p, 4);
    return v;
#endif
}

// ---- activation quantisers ----------------------------------------------------------------------

// Q8_0 activations on the GPU: the CPU's BlockQ8_0 with d widened back to float (f16-rounded,
// as the CPU stores it) and 4-byte aligned, so the quantised values load as words.
struct ActQ8_0 {
    float d;
    int8_t qs[32];
};
static_assert(sizeof(ActQ8_0) == 36);

// Q8_K (quant/q8.cpp quantize_q8_k, the CPU's activation format for the K-quants): `max` is the
// first value of the block's largest magnitude; q = min(127, nearest_int(iscale·x)), d = 1/iscale.
SLUICE_HD inline float q8k_iscale(float max) { return div_rn(-127.0f, max); }
SLUICE_HD inline int8_t q8k_level(float x, float iscale) {
    const int q = nearest_int(mul_rn(iscale, x));
    return int8_t(q < 127 ? q : 127);
}
SLUICE_HD inline float q8k_d(float iscale) { return div_rn(1.0f, iscale); }

// Q8_0 activations (kernels/dot_portable.cpp quantize_q8_act): d = f16(amax/127),
// q = nearest_int(x·(127/amax)).
SLUICE_HD inline float q8_0_d(float amax) { return half_to_float(float_to_half(div_rn(amax, 127.0f))); }
SLUICE_HD inline float q8_0_inverse(float amax) { return amax != 0.0f ? div_rn(127.0f, amax) : 0.0f; }
SLUICE_HD inline int8_t q8_0_level(float x, float inverse) { return int8_t(nearest_int(mul_rn(x, inverse))); }

SLUICE_HD inline float abs_value(float x) { return x < 0.0f ? -x : x; }

// One block by one thread: the definition the device's warp-parallel quantisers
// (quantize_q8.cu) compute, and what the CPU test compares with the CPU's quantisers.
SLUICE_HD inline void quantize_block_q8_k(const float* x, BlockQ8_K& b) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 256; ++j)
        if (abs_value(x[j]) > amax) amax = abs_value(x[j]), max = x[j];
    if (amax == 0.0f) {
        b = BlockQ8_K{};
        return;
    }
    const float iscale = q8k_iscale(max);
    for (int j = 0; j < 256; ++j) b.qs[j] = q8k_level(x[j], iscale);
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += b.qs[16 * g + j];
        b.bsums[g] = int16_t(sum);
    }
    b.d = q8k_d(iscale);
}
SLUICE_HD inline void quantize_block_q8_0(const float* x, ActQ8_0& b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = abs_value(x[j]) > amax ? abs_value(x[j]) : amax;
    const float inverse = q8_0_inverse(amax);
    for (int j = 0; j < 32; ++j) b.qs[j] = q8_0_level(x[j], inverse);
    b.d = q8_0_d(amax);
}

// A block of a Q8_0 KV cache (model/attention.cpp store_row: the CPU's quantize_q8_0 of a head's
// row zero-padded to whole blocks): the same levels as quantize_block_q8_0, d stored as the half
// f16(amax/127).
SLUICE_HD inline void quantize_kv_block_q8_0(const float* x, BlockQ8_0& b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = abs_value(x[j]) > amax ? abs_value(x[j]) : amax;
    const float inverse = q8_0_inverse(amax);
    for (int j = 0; j < 32; ++j) b.qs[j] = q8_0_level(x[j], inverse);
    b.d = float_to_half(div_rn(amax, 127.0f));
}

// ---- weight units against quantised activations ---------------------------------------------------

// Integer sums of one unit (or, summed over a block's units, of the block): Σ scale·(levels·x)
// and, for the types with minimums, Σ min·(Σx).
struct UnitSums {
    int scaled = 0, mins = 0;
};

template <GgmlType T>
struct Q8Unit;

// Q4_K / Q5_K sub-block j's scale and minimum (quant/blocks.h k4_scale_min).
SLUICE_HD inline void k4_scale_min_hd(int j, const uint8_t* s, int& sc, int& m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// The CPU's per-super-block scaling of Q4_K / Q5_K (dot_portable.cpp dot_k4), of Q6_K
// (dot_q6_k) and of a Q8_0 block (dot_q8_0), with the weight's half-precision factors widened.
SLUICE_HD inline float k4_scale(float xd, float d, float dmin, int scaled, int mins) {
    return sub_rn(mul_rn(mul_rn(xd, d), to_float(scaled)), mul_rn(mul_rn(xd, dmin), to_float(mins)));
}
SLUICE_HD inline float q6k_scale(float xd, float d, int scaled) { return mul_rn(mul_rn(xd, d), to_float(scaled)); }
SLUICE_HD inline float q8_0_scale(float wd, float xd, int dot) { return mul_rn(mul_rn(wd, xd), to_float(dot)); }

SLUICE_HD inline float k4_term(float xd, uint16_t d, uint16_t dmin, const UnitSums& s) {
    return k4_scale(xd, half_to_float(d), half_to_float(dmin), s.scaled, s.mins);
}

// Each type gives, for unit j (32 values) of a block: its levels as eight words of four bytes
// (levels), its scales per 16 values and its minimum (scales), and the block's float factors;
// sums() is the unit's integer dot product with the activations; term() scales integer sums
// (a unit's, or a whole block's) as the CPU does.

// What Q4_K and Q5_K share: a scale and a minimum per unit (k4_scale_min), the unit's dot of its
// levels (the derived type's) with Q8_K activations, and the CPU's scaling of the sums.
template <class Unit, class BlockT>
struct K4Unit {
    using Block = BlockT;
    using Act = BlockQ8_K;
    static constexpr int kValues = 256, kUnits = 8;
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2], int& m) {
        k4_scale_min_hd(j, w.scales, sc[0], m);
        sc[1] = sc[0];
    }
    SLUICE_HD static UnitSums sums(const Block& w, const Act& x, int j) {
        int q[8], sc[2], m, dot = 0;
        Unit::levels(w, j, q);
        for (int i = 0; i < 8; ++i) dot = dot4(q[i], load4(x.qs + 32 * j + 4 * i), dot);
        scales(w, j, sc, m);
        return {sc[0] * dot, m * (x.bsums[2 * j] + x.bsums[2 * j + 1])};
    }
    SLUICE_HD static float term(const Block& w, const Act& x, const UnitSums& s) { return k4_term(x.d, w.d, w.dmin, s); }
};

// Q4_K: value 32j + l is the low (j even) or high nibble of qs[32(j/2) + l].
template <>
struct Q8Unit<GgmlType::Q4_K> : K4Unit<Q8Unit<GgmlType::Q4_K>, BlockQ4_K> {
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        const uint8_t* p = w.qs + 32 * (j / 2);
        for (int i = 0; i < 8; ++i) q[i] = (load4(p + 4 * i) >> (4 * (j % 2))) & 0x0F0F0F0F;
    }
};

// Q5_K: Q4_K's nibbles plus a fifth bit, bit j of qh[l].
template <>
struct Q8Unit<GgmlType::Q5_K> : K4Unit<Q8Unit<GgmlType::Q5_K>, BlockQ5_K> {
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        const uint8_t* p = w.qs + 32 * (j / 2);
        for (int i = 0; i < 8; ++i)
            q[i] = ((load4(p + 4 * i) >> (4 * (j % 2))) & 0x0F0F0F0F) | (((load4(w.qh + 4 * i) >> j) & 0x01010101) << 4);
    }
};

// Q6_K: value 32j + l (j = 4h + k) has its low nibble in ql[64h + 32(k%2) + l] (high nibble for
// k ≥ 2) and two more bits at 2k of qh[32h + l]; level − 32. Scales per 16 values. The levels go
// into the integer products unsigned (0..63) and the 32 comes off through Q8_K's sums of 16:
// Σ(q−32)·x = Σq·x − 32·Σx, the same integer.
template <>
struct Q8Unit<GgmlType::Q6_K> {
    using Block = BlockQ6_K;
    using Act = BlockQ8_K;
    static constexpr int kValues = 256, kUnits = 8;
    static constexpr int kOffset = 32;  // subtracted from every level
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        const int h = j / 4, k = j % 4;
        const uint8_t* ql = w.ql + 64 * h + 32 * (k % 2);
        const uint8_t* qh = w.qh + 32 * h;
        for (int i = 0; i < 8; ++i)
            q[i] = ((load4_a2(ql + 4 * i) >> (k < 2 ? 0 : 4)) & 0x0F0F0F0F) |
                   (((load4_a2(qh + 4 * i) >> (2 * k)) & 0x03030303) << 4);
    }
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2], int& m) {
        sc[0] = w.scales[2 * j];
        sc[1] = w.scales[2 * j + 1];
        m = 0;
    }
    SLUICE_HD static UnitSums sums(const Block& w, const Act& x, int j) {
        int q[8], sc[2], m, dot[2] = {0, 0};
        levels(w, j, q);
        for (int i = 0; i < 8; ++i) dot[i / 4] = dot4(q[i], load4(x.qs + 32 * j + 4 * i), dot[i / 4]);
        scales(w, j, sc, m);
        return {sc[0] * (dot[0] - kOffset * x.bsums[2 * j]) + sc[1] * (dot[1] - kOffset * x.bsums[2 * j + 1]), 0};
    }
    SLUICE_HD static float term(const Block& w, const Act& x, const UnitSums& s) {
        return q6k_scale(x.d, half_to_float(w.d), s.scaled);
    }
};

// Q8_0 against Q8_0 activations: one unit per block, d_w·d_x·Σq·x as the CPU's dot_q8_0.
template <>
struct Q8Unit<GgmlType::Q8_0> {
    using Block = BlockQ8_0;
    using Act = ActQ8_0;
    static constexpr int kValues = 32, kUnits = 1;
    SLUICE_HD static void levels(const Block& w, int, int (&q)[8]) {
        const uint8_t* p = reinterpret_cast<const uint8_t*>(w.qs);
        for (int i = 0; i < 8; ++i) q[i] = load4_a2(p + 4 * i);
    }
    SLUICE_HD static UnitSums sums(const Block& w, const Act& x, int j) {
        int q[8], dot = 0;
        levels(w, j, q);
        for (int i = 0; i < 8; ++i) dot = dot4(q[i], load4(x.qs + 4 * i), dot);
        return {dot, 0};
    }
    SLUICE_HD static float term(const Block& w, const Act& x, const UnitSums& s) {
        return q8_0_scale(half_to_float(w.d), x.d, s.scaled);
    }
};

// Unit j's float term (decode).
template <GgmlType T>
SLUICE_HD inline float unit_term(const typename Q8Unit<T>::Block& w, const typename Q8Unit<T>::Act& x, int j) {
    return Q8Unit<T>::term(w, x, Q8Unit<T>::sums(w, x, j));
}

// A whole block's float term with its units summed in integers first, as the CPU scales it.
template <GgmlType T>
SLUICE_HD inline float block_term(const typename Q8Unit<T>::Block& w, const typename Q8Unit<T>::Act& x) {
    UnitSums s;
    for (int j = 0; j < Q8Unit<T>::kUnits; ++j) {
        const UnitSums u = Q8Unit<T>::sums(w, x, j);
        s.scaled += u.scaled;
        s.mins += u.mins;
    }
    return Q8Unit<T>::term(w, x, s);
}

// The weight types with 8-bit-activation GPU kernels (the IQ grid types' units: q8_iq_units.h),
// and their activation type (Q8_K or Q8_0).
SLUICE_HD inline bool has_q8_unit(GgmlType t) {
    switch (t) {
        case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: case GgmlType::Q8_0: case GgmlType::IQ2_XXS:
        case GgmlType::IQ2_XS: case GgmlType::IQ2_S: case GgmlType::IQ3_XXS: case GgmlType::IQ3_S: case GgmlType::IQ1_S:
        case GgmlType::IQ1_M:
            return true;
        default:
            return false;
    }
}
SLUICE_HD inline GgmlType q8_activation(GgmlType t) { return t == GgmlType::Q8_0 ? GgmlType::Q8_0 : GgmlType::Q8_K; }
// Bytes of one quantised activation row of `cols` values for weight type t (ActQ8_0 or BlockQ8_K).
SLUICE_HD inline size_t q8_row_bytes(GgmlType t, int64_t cols) {
    return t == GgmlType::Q8_0 ? size_t(cols / 32) * sizeof(ActQ8_0) : size_t(cols / 256) * sizeof(BlockQ8_K);
}

}  // namespace sluice::q8

#include "cuda/q8_iq_units.h"  // the grid-indexed IQ types' units
