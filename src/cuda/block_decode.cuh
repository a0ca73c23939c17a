// Device-side decoding of the GGML block types as stored (quant/blocks.h, model-spec §C.5).
// Every type is cut into chunks of eight values: v[0..3] are the block's values a..a+3 and
// v[4..7] its values b..b+3, the pairs that share packed bytes (low and high nibbles, 2-bit
// fields, high-bit masks). A warp decodes 32 chunks at once, so a K-quant super-block (32 chunks)
// is one warp step and its bytes are read together. The arithmetic is the scalar reference's, in
// its order and with explicit rounding (no fused multiply-add), so dequantised values are
// bit-identical to dequantize_row_ref.
#pragma once
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/q8_arith.h"
#include "quant/blocks.h"
#include "quant/types.h"

namespace sluice::cuda {

struct Chunk8 {
    float v[8];
    int a, b;  // positions of v[0] and v[4] in the block
};

__device__ inline float half_to_float(uint16_t bits) { return __half2float(__ushort_as_half(bits)); }
__device__ inline float mul(float x, float y) { return __fmul_rn(x, y); }
__device__ inline float mul_add(float x, float y, float z) { return __fadd_rn(__fmul_rn(x, y), z); }
__device__ inline float mul_sub(float x, float y, float z) { return __fsub_rn(__fmul_rn(x, y), z); }
// float(q) for |q| < 2^22 without the int-to-float instruction, which runs at 1/8 of the float
// rate on sm_80..90 and bounded the decode kernels: q added to the mantissa of 1.5·2^23 (whose
// ulp is 1), then 1.5·2^23 taken away; both steps are exact, so the value is float(q).
__device__ inline float exact_float(int q) { return __fsub_rn(__int_as_float(0x4B400000 + q), 12582912.0f); }

// The IQ4 grid (quant/blocks.h kIq4Values), in constant memory.
__constant__ const int8_t kIq4Grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Q3_K signed sub-block scale (quant/blocks.h q3k_scale).
__device__ inline int q3k_scale_dev(int j, const uint8_t* s) {
    const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

template <GgmlType T>
struct BlockCodec;

// 32-value types: chunk c covers bytes 4c..4c+3 of qs, whose low nibbles are values 4c.. and
// high nibbles values 4c+16...
template <>
struct BlockCodec<GgmlType::Q4_0> {
    using Block = BlockQ4_0;
    static constexpr int kValues = 32, kChunks = 4;
    __device__ static Chunk8 decode(const Block& b, int c) {
        Chunk8 r{{}, 4 * c, 4 * c + 16};
        const float d = half_to_float(b.d);
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[4 * c + i];
            r.v[i] = mul(exact_float((q & 0xF) - 8), d);
            r.v[4 + i] = mul(exact_float((q >> 4) - 8), d);
        }
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::Q4_1> {
    using Block = BlockQ4_1;
    static constexpr int kValues = 32, kChunks = 4;
    __device__ static Chunk8 decode(const Block& b, int c) {
        Chunk8 r{{}, 4 * c, 4 * c + 16};
        const float d = half_to_float(b.d), m = half_to_float(b.m);
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[4 * c + i];
            r.v[i] = mul_add(exact_float(q & 0xF), d, m);
            r.v[4 + i] = mul_add(exact_float(q >> 4), d, m);
        }
        return r;
    }
};

// Bit j of a Q5 block's 32-bit high mask (stored as 4 bytes, little-endian).
__device__ inline int q5_high_bit(const uint8_t* qh, int j) { return (qh[j / 8] >> (j % 8)) & 1; }

template <>
struct BlockCodec<GgmlType::Q5_0> {
    using Block = BlockQ5_0;
    static constexpr int kValues = 32, kChunks = 4;
    __device__ static Chunk8 decode(const Block& b, int c) {
        Chunk8 r{{}, 4 * c, 4 * c + 16};
        const float d = half_to_float(b.d);
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[4 * c + i];
            r.v[i] = mul(exact_float(((q & 0xF) | q5_high_bit(b.qh, r.a + i) << 4) - 16), d);
            r.v[4 + i] = mul(exact_float(((q >> 4) | q5_high_bit(b.qh, r.b + i) << 4) - 16), d);
        }
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::Q5_1> {
    using Block = BlockQ5_1;
    static constexpr int kValues = 32, kChunks = 4;
    __device__ static Chunk8 decode(const Block& b, int c) {
        Chunk8 r{{}, 4 * c, 4 * c + 16};
        const float d = half_to_float(b.d), m = half_to_float(b.m);
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[4 * c + i];
            r.v[i] = mul_add(exact_float((q & 0xF) | q5_high_bit(b.qh, r.a + i) << 4), d, m);
            r.v[4 + i] = mul_add(exact_float((q >> 4) | q5_high_bit(b.qh, r.b + i) << 4), d, m);
        }
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::IQ4_NL> {
    using Block = BlockIQ4_NL;
    static constexpr int kValues = 32, kChunks = 4;
    __device__ static Chunk8 decode(const Block& b, int c) {
        Chunk8 r{{}, 4 * c, 4 * c + 16};
        const float d = half_to_float(b.d);
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[4 * c + i];
            r.v[i] = mul(d, exact_float(kIq4Grid[q & 0xF]));
            r.v[4 + i] = mul(d, exact_float(kIq4Grid[q >> 4]));
        }
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::Q8_0> {
    using Block = BlockQ8_0;
    static constexpr int kValues = 32, kChunks = 4;
    __device__ static Chunk8 decode(const Block& b, int c) {
        Chunk8 r{{}, 8 * c, 8 * c + 4};
        const float d = half_to_float(b.d);
        for (int i = 0; i < 8; ++i) r.v[i] = mul(exact_float(b.qs[8 * c + i]), d);
        return r;
    }
};

// Q2_K / Q3_K: byte qs[32n + l] holds values 128n + 32e + l (e = 0..3) in bits 2e. Chunk c:
// n = c/16, fields e = 2p and 2p+1 with p = (c/8)%2, bytes l = 4(c%8)...
__device__ inline void q2_chunk_geometry(int c, int& byte0, int& shift, Chunk8& r) {
    const int n = c / 16, p = (c / 8) % 2, l0 = 4 * (c % 8);
    byte0 = 32 * n + l0;
    shift = 4 * p;  // bits of field 2p; field 2p+1 is 2 bits higher
    r.a = 128 * n + 64 * p + l0;
    r.b = r.a + 32;
}

template <>
struct BlockCodec<GgmlType::Q2_K> {
    using Block = BlockQ2_K;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        Chunk8 r;
        int byte0, shift;
        q2_chunk_geometry(c, byte0, shift, r);
        const float d = half_to_float(b.d), min = half_to_float(b.dmin);
        const int sa = b.scales[r.a / 16], sb = b.scales[r.b / 16];
        const float dla = mul(d, exact_float(sa & 0xF)), mla = mul(min, exact_float(sa >> 4));
        const float dlb = mul(d, exact_float(sb & 0xF)), mlb = mul(min, exact_float(sb >> 4));
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[byte0 + i];
            r.v[i] = mul_sub(dla, exact_float((q >> shift) & 3), mla);
            r.v[4 + i] = mul_sub(dlb, exact_float((q >> (shift + 2)) & 3), mlb);
        }
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::Q3_K> {
    using Block = BlockQ3_K;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        Chunk8 r;
        int byte0, shift;
        q2_chunk_geometry(c, byte0, shift, r);
        const float d = half_to_float(b.d);
        const float dla = mul(d, exact_float(q3k_scale_dev(r.a / 16, b.scales)));
        const float dlb = mul(d, exact_float(q3k_scale_dev(r.b / 16, b.scales)));
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[byte0 + i];
            // Value e's high bit is bit e/32 of hmask[e%32]; a clear bit subtracts 4.
            const int ea = r.a + i, eb = r.b + i;
            const int ha = (b.hmask[ea % 32] >> (ea / 32)) & 1, hb = (b.hmask[eb % 32] >> (eb / 32)) & 1;
            r.v[i] = mul(dla, exact_float(((q >> shift) & 3) - (ha ? 0 : 4)));
            r.v[4 + i] = mul(dlb, exact_float(((q >> (shift + 2)) & 3) - (hb ? 0 : 4)));
        }
        return r;
    }
};

// Q4_K / Q5_K: the scales and minimums of sub-blocks 2p (low nibbles) and 2p + 1 (high nibbles).
struct K4Scales {
    float da, mina, db, minb;
    template <class Block>
    __device__ K4Scales(const Block& b, int p) {
        const float d = half_to_float(b.d), min = half_to_float(b.dmin);
        int sca, ma, scb, mb;
        q8::k4_scale_min_hd(2 * p, b.scales, sca, ma);
        q8::k4_scale_min_hd(2 * p + 1, b.scales, scb, mb);
        da = mul(d, exact_float(sca));
        mina = mul(min, exact_float(ma));
        db = mul(d, exact_float(scb));
        minb = mul(min, exact_float(mb));
    }
};

// Q4_K / Q5_K: byte qs[32p + l] holds value 64p + l (low nibble) and 64p + 32 + l (high).
template <>
struct BlockCodec<GgmlType::Q4_K> {
    using Block = BlockQ4_K;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int p = c / 8, l0 = 4 * (c % 8);
        Chunk8 r{{}, 64 * p + l0, 64 * p + 32 + l0};
        const K4Scales s(b, p);
        // The four bytes in one load: qs sits 16 bytes into the 144-byte block, l0 is a multiple of 4.
        const uint32_t q4 = *reinterpret_cast<const uint32_t*>(b.qs + 32 * p + l0);
        for (int i = 0; i < 4; ++i) {
            const int q = int(q4 >> (8 * i)) & 0xFF;
            r.v[i] = mul_sub(s.da, exact_float(q & 0xF), s.mina);
            r.v[4 + i] = mul_sub(s.db, exact_float(q >> 4), s.minb);
        }
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::Q5_K> {
    using Block = BlockQ5_K;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int p = c / 8, l0 = 4 * (c % 8);
        Chunk8 r{{}, 64 * p + l0, 64 * p + 32 + l0};
        const K4Scales s(b, p);
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[32 * p + l0 + i], h = b.qh[l0 + i];
            // Fifth bit of value e: bit e/32 of qh[e%32], i.e. bits 2p and 2p+1 here.
            r.v[i] = mul_sub(s.da, exact_float((q & 0xF) | ((h >> (2 * p)) & 1) << 4), s.mina);
            r.v[4 + i] = mul_sub(s.db, exact_float((q >> 4) | ((h >> (2 * p + 1)) & 1) << 4), s.minb);
        }
        return r;
    }
};

// Q6_K: value 128h + 32k + l has its low nibble in ql[64h + 32(k%2) + l] (high nibble for
// k ≥ 2) and its top two bits in bits 2k of qh[32h + l]. Chunk c: h = c/16, k = (c/8)%2 and
// k + 2, l = 4(c%8)...
template <>
struct BlockCodec<GgmlType::Q6_K> {
    using Block = BlockQ6_K;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int h = c / 16, k = (c / 8) % 2, l0 = 4 * (c % 8);
        Chunk8 r{{}, 128 * h + 32 * k + l0, 128 * h + 32 * (k + 2) + l0};
        const float d = half_to_float(b.d);
        const float da = mul(d, exact_float(b.scales[r.a / 16])), db = mul(d, exact_float(b.scales[r.b / 16]));
        for (int i = 0; i < 4; ++i) {
            const int ql = b.ql[64 * h + 32 * k + l0 + i], qh = b.qh[32 * h + l0 + i];
            const int qa = ((ql & 0xF) | ((qh >> (2 * k)) & 3) << 4) - 32;
            const int qb = ((ql >> 4) | ((qh >> (2 * (k + 2))) & 3) << 4) - 32;
            r.v[i] = mul(da, exact_float(qa));
            r.v[4 + i] = mul(db, exact_float(qb));
        }
        return r;
    }
};

// IQ4_XS: sub-block s (32 values) is qs[16s..16s+15] as in IQ4_NL, with a 6-bit scale.
template <>
struct BlockCodec<GgmlType::IQ4_XS> {
    using Block = BlockIQ4_XS;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int s = c / 4, j0 = 4 * (c % 4);
        Chunk8 r{{}, 32 * s + j0, 32 * s + 16 + j0};
        const int ls = ((b.scales_l[s / 2] >> (4 * (s % 2))) & 0xF) | (((b.scales_h >> (2 * s)) & 3) << 4);
        const float dl = mul(half_to_float(b.d), exact_float(ls - 32));
        for (int i = 0; i < 4; ++i) {
            const int q = b.qs[16 * s + j0 + i];
            r.v[i] = mul(dl, exact_float(kIq4Grid[q & 0xF]));
            r.v[4 + i] = mul(dl, exact_float(kIq4Grid[q >> 4]));
        }
        return r;
    }
};

// Float types: "blocks" of one value, read directly.
template <GgmlType T>
__device__ inline float load_float_value(const void* row, int64_t i);
template <>
__device__ inline float load_float_value<GgmlType::F32>(const void* row, int64_t i) {
    return static_cast<const float*>(row)[i];
}
template <>
__device__ inline float load_float_value<GgmlType::F16>(const void* row, int64_t i) {
    return half_to_float(static_cast<const uint16_t*>(row)[i]);
}
template <>
__device__ inline float load_float_value<GgmlType::BF16>(const void* row, int64_t i) {
    return __uint_as_float(uint32_t(static_cast<const uint16_t*>(row)[i]) << 16);
}

// The types with a BlockCodec, for the launchers' switches over GgmlType.
#define SLUICE_CUDA_FOR_BLOCK_TYPES(X) \
    X(Q4_0) X(Q4_1) X(Q5_0) X(Q5_1) X(Q8_0) X(Q2_K) X(Q3_K) X(Q4_K) X(Q5_K) X(Q6_K) X(IQ4_NL) X(IQ4_XS) \
    X(IQ2_XXS) X(IQ2_XS) X(IQ2_S) X(IQ3_XXS) X(IQ3_S) X(IQ1_S) X(IQ1_M)

}  // namespace sluice::cuda

#include "cuda/iq_block_decode.cuh"  // the grid-indexed IQ types' codecs
