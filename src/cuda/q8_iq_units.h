// The grid-indexed IQ types against Q8_K activations (q8_arith.h's Q8Unit, for the decode
// kernels), as the portable CPU dot computes them (kernels/dot_portable.cpp dot_iq, from
// quant/iq_levels.h): each value's signed grid level times the activation in integers, each
// 16-value sum times its odd sub-block scale, the IQ1 deltas through sums of 8 activations, and
// per block d_w·d_x·(factor·(scaled + deltas/8)). A unit is one 32-value sub-block: four 8-value
// grid groups (IQ2, IQ1: one u64 entry each; IQ3: two u32 entries). Included by q8_arith.h.
#pragma once
#include "cuda/q8_arith.h"
#include "quant/iq_grids.h"

#if defined(__CUDACC__)
#include "cuda/iq_grids.cuh"
#endif

namespace sluice::q8 {

// The grids and sign code: the device's copies in device code, the host tables on the host.
#ifdef __CUDA_ARCH__
#define SLUICE_IQ_GRID(host, device, i) (cuda::device[i])
#else
#define SLUICE_IQ_GRID(host, device, i) (host[i])
#endif
SLUICE_HD inline uint64_t iq2xxs_entry(int i) { return SLUICE_IQ_GRID(kIq2xxsGrid, kIq2xxsGridDevice, i); }
SLUICE_HD inline uint64_t iq2xs_entry(int i) { return SLUICE_IQ_GRID(kIq2xsGrid, kIq2xsGridDevice, i); }
SLUICE_HD inline uint64_t iq2s_entry(int i) { return SLUICE_IQ_GRID(kIq2sGrid, kIq2sGridDevice, i); }
SLUICE_HD inline uint32_t iq3xxs_entry(int i) { return SLUICE_IQ_GRID(kIq3xxsGrid, kIq3xxsGridDevice, i); }
SLUICE_HD inline uint32_t iq3s_entry(int i) { return SLUICE_IQ_GRID(kIq3sGrid, kIq3sGridDevice, i); }
SLUICE_HD inline uint64_t iq1s_entry(int i) { return SLUICE_IQ_GRID(kIq1sGrid, kIq1sGridDevice, i); }
#undef SLUICE_IQ_GRID
SLUICE_HD inline int iq2_sign_bits(int seven_bits) {
#ifdef __CUDA_ARCH__
    return cuda::iq2_signs(seven_bits);
#else
    return kIq2Signs[size_t(seven_bits)];
#endif
}

// Four unsigned byte levels (< 128) as signed bytes, byte i negated where bit i of signs is set:
// m has 0xFF in those bytes (bit i moved to bit 8i by the shifts 0, 7, 14, 21, which do not
// overlap), and per byte (l ^ m) − m is l, or 255 − l − 255 = −l (mod 256).
SLUICE_HD inline int signed_word(uint32_t levels, int signs) {
    const uint32_t m = ((uint32_t(signs & 0xF) * 0x00204081u) & 0x01010101u) * 0xFFu;
#ifdef __CUDA_ARCH__
    return int(__vsub4(levels ^ m, m));
#else
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= uint32_t(uint8_t(((levels ^ m) >> (8 * i)) - (m >> (8 * i)))) << (8 * i);
    return int(r);
#endif
}
// An 8-value group of unsigned u64 levels with 8 sign bits, as two words.
SLUICE_HD inline void signed_group(int* q, uint64_t entry, int signs) {
    q[0] = signed_word(uint32_t(entry), signs & 0xF);
    q[1] = signed_word(uint32_t(entry >> 32), signs >> 4);
}

SLUICE_HD inline uint32_t load_u32_bytes_hd(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// The CPU's float steps for integer sums of an IQ block (or unit), in its order:
// (d_w·d_x)·(factor·(float(scaled) + 1/8·float(deltas))).
SLUICE_HD inline float iq_scale(float wd, float xd, float factor, int scaled, int deltas) {
    return mul_rn(mul_rn(wd, xd), mul_rn(factor, add_rn(to_float(scaled), mul_rn(0.125f, to_float(deltas)))));
}

// What the IQ types share. The derived Unit gives levels(w, j, q) (the unit's 32 signed levels
// as eight words), scales(w, j, sc) (odd scales of its two 16-value halves), d(w) and kFactor;
// the IQ1 types also delta_signs(w, j, ds) (±1 per 8 values).
template <class Unit, class BlockT, bool kDelta = false>
struct IqUnit {
    using Block = BlockT;
    using Act = BlockQ8_K;
    static constexpr int kValues = 256, kUnits = 8;
    // Σ scale·(levels·x) and, for IQ1, Σ scale·delta_sign·(Σ of 8 x) in `mins`.
    SLUICE_HD static UnitSums sums(const Block& w, const Act& x, int j) {
        int q[8], sc[2], dot[2] = {0, 0};
        Unit::levels(w, j, q);
        Unit::scales(w, j, sc);
        int xw[8];
        for (int i = 0; i < 8; ++i) xw[i] = load4(x.qs + 32 * j + 4 * i);
        for (int i = 0; i < 8; ++i) dot[i / 4] = dot4(q[i], xw[i], dot[i / 4]);
        UnitSums s{sc[0] * dot[0] + sc[1] * dot[1], 0};
        if constexpr (kDelta) {
            int ds[4];
            Unit::delta_signs(w, j, ds);
            for (int g = 0; g < 4; ++g)
                s.mins += sc[g / 2] * ds[g] * dot4(0x01010101, xw[2 * g + 1], dot4(0x01010101, xw[2 * g], 0));
        }
        return s;
    }
    SLUICE_HD static float term(const Block& w, const Act& x, const UnitSums& s) {
        return iq_scale(Unit::d(w), x.d, Unit::kFactor, s.scaled, s.mins);
    }
};

// Whether T's unit is an IQ grid type's (IqUnit), and one without the IQ1 deltas, which need
// sums of 8 activations where Q8_K keeps sums of 16 (the tensor-core prefill takes only these).
template <GgmlType T>
inline constexpr bool kIsIqUnit = T == GgmlType::IQ2_XXS || T == GgmlType::IQ2_XS || T == GgmlType::IQ2_S ||
                                  T == GgmlType::IQ3_XXS || T == GgmlType::IQ3_S || T == GgmlType::IQ1_S ||
                                  T == GgmlType::IQ1_M;
template <GgmlType T>
inline constexpr bool kIsIqUnitWithoutDelta = kIsIqUnit<T> && T != GgmlType::IQ1_S && T != GgmlType::IQ1_M;

// IQ2_XXS: per unit a u32 of four 8-bit grid indices, then a u32 of 4×7 sign bits | scale << 28.
template <>
struct Q8Unit<GgmlType::IQ2_XXS> : IqUnit<Q8Unit<GgmlType::IQ2_XXS>, BlockIQ2_XXS> {
    static constexpr float kFactor = 0.125f;
    SLUICE_HD static float d(const Block& w) { return half_to_float(w.d); }
    SLUICE_HD static uint32_t signs_and_scale(const Block& w, int j) { return w.qs[4 * j + 2] | uint32_t(w.qs[4 * j + 3]) << 16; }
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        const uint32_t indices = w.qs[4 * j] | uint32_t(w.qs[4 * j + 1]) << 16, aux = signs_and_scale(w, j);
        for (int l = 0; l < 4; ++l)
            signed_group(q + 2 * l, iq2xxs_entry(int(indices >> (8 * l)) & 0xFF), iq2_sign_bits(int(aux >> (7 * l)) & 127));
    }
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2]) { sc[0] = sc[1] = 2 * int(signs_and_scale(w, j) >> 28) + 1; }
};

// IQ2_XS / IQ2_S: a 4-bit scale per 16 values in scales[j].
SLUICE_HD inline void iq2_nibble_scales(const uint8_t* scales, int j, int (&sc)[2]) {
    sc[0] = 2 * (scales[j] & 0xF) + 1;
    sc[1] = 2 * (scales[j] >> 4) + 1;
}

// IQ2_XS: per 8 values a u16 = 9-bit grid index | 7 sign bits << 9.
template <>
struct Q8Unit<GgmlType::IQ2_XS> : IqUnit<Q8Unit<GgmlType::IQ2_XS>, BlockIQ2_XS> {
    static constexpr float kFactor = 0.125f;
    SLUICE_HD static float d(const Block& w) { return half_to_float(w.d); }
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        for (int l = 0; l < 4; ++l) {
            const int v = w.qs[4 * j + l];
            signed_group(q + 2 * l, iq2xs_entry(v & 511), iq2_sign_bits(v >> 9));
        }
    }
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2]) { iq2_nibble_scales(w.scales, j, sc); }
};

// IQ2_S: 10-bit grid indices (the top two bits in qh[j]), explicit sign bytes.
template <>
struct Q8Unit<GgmlType::IQ2_S> : IqUnit<Q8Unit<GgmlType::IQ2_S>, BlockIQ2_S> {
    static constexpr float kFactor = 0.125f;
    SLUICE_HD static float d(const Block& w) { return half_to_float(w.d); }
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        for (int l = 0; l < 4; ++l) {
            const int index = w.qs[4 * j + l] | ((w.qh[j] << (8 - 2 * l)) & 0x300);
            signed_group(q + 2 * l, iq2s_entry(index), w.qs[32 + 4 * j + l]);
        }
    }
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2]) { iq2_nibble_scales(w.scales, j, sc); }
};

// IQ3_XXS: 8-bit indices of 4-level entries in qs[8j..8j+7]; per unit a u32 of 4×7 sign bits |
// scale << 28 at qs[64 + 4j].
template <>
struct Q8Unit<GgmlType::IQ3_XXS> : IqUnit<Q8Unit<GgmlType::IQ3_XXS>, BlockIQ3_XXS> {
    static constexpr float kFactor = 0.25f;
    SLUICE_HD static float d(const Block& w) { return half_to_float(w.d); }
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        const uint32_t aux = load_u32_bytes_hd(w.qs + 64 + 4 * j);
        for (int l = 0; l < 4; ++l) {
            const int signs = iq2_sign_bits(int(aux >> (7 * l)) & 127);
            q[2 * l] = signed_word(iq3xxs_entry(w.qs[8 * j + 2 * l]), signs & 0xF);
            q[2 * l + 1] = signed_word(iq3xxs_entry(w.qs[8 * j + 2 * l + 1]), signs >> 4);
        }
    }
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2]) {
        sc[0] = sc[1] = 2 * int(load_u32_bytes_hd(w.qs + 64 + 4 * j) >> 28) + 1;
    }
};

// IQ3_S: 9-bit indices (the ninth bits in qh[j]), explicit sign bytes, a 4-bit scale per unit.
template <>
struct Q8Unit<GgmlType::IQ3_S> : IqUnit<Q8Unit<GgmlType::IQ3_S>, BlockIQ3_S> {
    static constexpr float kFactor = 1.0f;
    SLUICE_HD static float d(const Block& w) { return half_to_float(w.d); }
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        const int qh = w.qh[j];
        for (int l = 0; l < 4; ++l) {
            const int signs = w.signs[4 * j + l];
            q[2 * l] = signed_word(iq3s_entry(w.qs[8 * j + 2 * l] | ((qh << (8 - 2 * l)) & 256)), signs & 0xF);
            q[2 * l + 1] = signed_word(iq3s_entry(w.qs[8 * j + 2 * l + 1] | ((qh << (7 - 2 * l)) & 256)), signs >> 4);
        }
    }
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2]) {
        sc[0] = sc[1] = 2 * ((w.scales[j / 2] >> (4 * (j % 2))) & 0xF) + 1;
    }
};

// The IQ1 grid's int8 levels (−1, 0, 1) are already signed bytes.
SLUICE_HD inline void iq1_group(int* q, uint64_t entry) {
    q[0] = int(uint32_t(entry));
    q[1] = int(uint32_t(entry >> 32));
}

// IQ1_S: per unit 4 index bytes and a u16 qh = 4×3 high index bits | 3-bit scale << 12 | the
// delta's sign << 15.
template <>
struct Q8Unit<GgmlType::IQ1_S> : IqUnit<Q8Unit<GgmlType::IQ1_S>, BlockIQ1_S, true> {
    static constexpr float kFactor = 1.0f;
    SLUICE_HD static float d(const Block& w) { return half_to_float(w.d); }
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        const int qh = w.qh[j];
        for (int l = 0; l < 4; ++l) iq1_group(q + 2 * l, iq1s_entry(w.qs[4 * j + l] | (((qh >> (3 * l)) & 7) << 8)));
    }
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2]) { sc[0] = sc[1] = 2 * ((w.qh[j] >> 12) & 7) + 1; }
    SLUICE_HD static void delta_signs(const Block& w, int j, int (&ds)[4]) {
        for (int l = 0; l < 4; ++l) ds[l] = w.qh[j] & 0x8000 ? -1 : 1;
    }
};

// IQ1_M: no d field (quant/blocks.h iq1m_super_scale: the top nibbles of the four u16 of
// scales); 3-bit scales per 16 values; per 8 values 3 high index bits and the delta's sign in a
// nibble of qh.
template <>
struct Q8Unit<GgmlType::IQ1_M> : IqUnit<Q8Unit<GgmlType::IQ1_M>, BlockIQ1_M, true> {
    static constexpr float kFactor = 1.0f;
    SLUICE_HD static float d(const Block& w) {
        return half_to_float(uint16_t((w.scales[1] >> 4) | (w.scales[3] >> 4) << 4 | (w.scales[5] >> 4) << 8 |
                                      (w.scales[7] >> 4) << 12));
    }
    SLUICE_HD static int group_nibble(const Block& w, int j, int l) { return w.qh[2 * j + l / 2] >> (4 * (l % 2)) & 0xF; }
    SLUICE_HD static void levels(const Block& w, int j, int (&q)[8]) {
        for (int l = 0; l < 4; ++l) iq1_group(q + 2 * l, iq1s_entry(w.qs[4 * j + l] | ((group_nibble(w, j, l) & 7) << 8)));
    }
    SLUICE_HD static void scales(const Block& w, int j, int (&sc)[2]) {
        const int packed = w.scales[2 * (j / 2)] | w.scales[2 * (j / 2) + 1] << 8, shift = 6 * (j % 2);
        sc[0] = 2 * ((packed >> shift) & 7) + 1;
        sc[1] = 2 * ((packed >> (shift + 3)) & 7) + 1;
    }
    SLUICE_HD static void delta_signs(const Block& w, int j, int (&ds)[4]) {
        for (int l = 0; l < 4; ++l) ds[l] = group_nibble(w, j, l) & 8 ? -1 : 1;
    }
};

}  // namespace sluice::q8
