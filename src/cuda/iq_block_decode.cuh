// Device decoding of the grid-indexed IQ types (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S,
// IQ1_M): the codecs of block_decode.cuh for quant/iq_quants.cpp's scalar dequantisers. Each
// 8-value group of a 256-value block is one chunk (IQ2/IQ1: one grid entry; IQ3: two of four
// levels), so chunk c is values 8c..8c+7 of sub-block s = c/4, group l = c%4. The float
// operations are the reference's, in its order and rounded one by one, so the values are
// bit for bit dequantize_row_ref's.
#pragma once
#include "cuda/block_decode.cuh"
#include "cuda/iq_grids.cuh"

namespace sluice::cuda {

// ±scale·level: the reference's one product per value, then the sign (exact).
__device__ inline float signed_level(float scale, int level, int signs, int j) {
    const float v = mul(scale, exact_float(level));
    return (signs >> j) & 1 ? -v : v;
}

// The eight values of a u64 grid entry (IQ2 grids: unsigned byte levels).
__device__ inline void put_signed8(Chunk8& r, uint64_t entry, int signs, float scale) {
    for (int j = 0; j < 8; ++j) r.v[j] = signed_level(scale, int(uint8_t(entry >> (8 * j))), signs, j);
}

// Four values of a u32 grid entry (IQ3 grids) into r.v[first..first+3], with sign bits first...
__device__ inline void put_signed4(Chunk8& r, int first, uint32_t entry, int signs, float scale) {
    for (int j = 0; j < 4; ++j)
        r.v[first + j] = signed_level(scale, int(uint8_t(entry >> (8 * j))), signs, first + j);
}

// IQ1: scale·(level + delta), levels int8 in {−1, 0, 1}.
__device__ inline void put_iq1(Chunk8& r, uint64_t entry, float scale, float delta) {
    for (int j = 0; j < 8; ++j) r.v[j] = mul(scale, __fadd_rn(exact_float(int(int8_t(entry >> (8 * j)))), delta));
}

// d·(0.5 + s)·factor, the IQ2 (factor 1/4) and IQ3_XXS (1/2) sub-block scale.
__device__ inline float iq_half_step_scale(float d, int s, float factor) {
    return mul(mul(d, __fadd_rn(0.5f, exact_float(s))), factor);
}

__device__ inline uint32_t load_u32_bytes(const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

constexpr float kIq1DeltaDevice = 0.125f;  // quant/blocks.h kIq1Delta

// Per 32 values a u32 of four 8-bit grid indices and a u32 of 4×7 sign bits | a 4-bit scale << 28.
template <>
struct BlockCodec<GgmlType::IQ2_XXS> {
    using Block = BlockIQ2_XXS;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int s = c / 4, l = c % 4;
        Chunk8 r{{}, 8 * c, 8 * c + 4};
        const uint32_t indices = b.qs[4 * s] | uint32_t(b.qs[4 * s + 1]) << 16;
        const uint32_t signs = b.qs[4 * s + 2] | uint32_t(b.qs[4 * s + 3]) << 16;
        const float db = iq_half_step_scale(half_to_float(b.d), int(signs >> 28), 0.25f);
        put_signed8(r, kIq2xxsGridDevice[(indices >> (8 * l)) & 0xFF], iq2_signs((signs >> (7 * l)) & 127), db);
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::IQ2_XS> {
    using Block = BlockIQ2_XS;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int s = c / 4, l = c % 4;
        Chunk8 r{{}, 8 * c, 8 * c + 4};
        const float db = iq_half_step_scale(half_to_float(b.d), (b.scales[s] >> (4 * (l / 2))) & 0xF, 0.25f);
        const int q = b.qs[4 * s + l];
        put_signed8(r, kIq2xsGridDevice[q & 511], iq2_signs(q >> 9), db);
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::IQ2_S> {
    using Block = BlockIQ2_S;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int s = c / 4, l = c % 4;
        Chunk8 r{{}, 8 * c, 8 * c + 4};
        const float db = iq_half_step_scale(half_to_float(b.d), (b.scales[s] >> (4 * (l / 2))) & 0xF, 0.25f);
        const int index = b.qs[4 * s + l] | ((b.qh[s] << (8 - 2 * l)) & 0x300);
        put_signed8(r, kIq2sGridDevice[index], b.qs[32 + 4 * s + l], db);
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::IQ3_XXS> {
    using Block = BlockIQ3_XXS;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int s = c / 4, l = c % 4;
        Chunk8 r{{}, 8 * c, 8 * c + 4};
        const uint32_t aux = load_u32_bytes(b.qs + 64 + 4 * s);
        const float db = iq_half_step_scale(half_to_float(b.d), int(aux >> 28), 0.5f);
        const int signs = iq2_signs((aux >> (7 * l)) & 127);
        put_signed4(r, 0, kIq3xxsGridDevice[b.qs[8 * s + 2 * l]], signs, db);
        put_signed4(r, 4, kIq3xxsGridDevice[b.qs[8 * s + 2 * l + 1]], signs, db);
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::IQ3_S> {
    using Block = BlockIQ3_S;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int s = c / 4, l = c % 4;
        Chunk8 r{{}, 8 * c, 8 * c + 4};
        const int scale = (b.scales[s / 2] >> (4 * (s % 2))) & 0xF;
        const float db = mul(half_to_float(b.d), exact_float(1 + 2 * scale));
        const int qh = b.qh[s], signs = b.signs[4 * s + l];
        put_signed4(r, 0, kIq3sGridDevice[b.qs[8 * s + 2 * l] | ((qh << (8 - 2 * l)) & 256)], signs, db);
        put_signed4(r, 4, kIq3sGridDevice[b.qs[8 * s + 2 * l + 1] | ((qh << (7 - 2 * l)) & 256)], signs, db);
        return r;
    }
};

template <>
struct BlockCodec<GgmlType::IQ1_S> {
    using Block = BlockIQ1_S;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int s = c / 4, l = c % 4;
        Chunk8 r{{}, 8 * c, 8 * c + 4};
        const int qh = b.qh[s];
        const float dl = mul(half_to_float(b.d), exact_float(2 * ((qh >> 12) & 7) + 1));
        const float delta = qh & 0x8000 ? -kIq1DeltaDevice : kIq1DeltaDevice;
        put_iq1(r, kIq1sGridDevice[b.qs[4 * s + l] | (((qh >> (3 * l)) & 7) << 8)], dl, delta);
        return r;
    }
};

// The half-precision super-scale is the top nibbles of the four little-endian u16 of scales
// (quant/blocks.h iq1m_super_scale), i.e. of scales[1], [3], [5], [7].
template <>
struct BlockCodec<GgmlType::IQ1_M> {
    using Block = BlockIQ1_M;
    static constexpr int kValues = 256, kChunks = 32;
    __device__ static Chunk8 decode(const Block& b, int c) {
        const int s = c / 4, l = c % 4;
        Chunk8 r{{}, 8 * c, 8 * c + 4};
        const int super = (b.scales[1] >> 4) | (b.scales[3] >> 4) << 4 | (b.scales[5] >> 4) << 8 | (b.scales[7] >> 4) << 12;
        const int sc = b.scales[2 * (s / 2)] | b.scales[2 * (s / 2) + 1] << 8;
        const int scale = (sc >> (6 * (s % 2) + 3 * (l / 2))) & 7;
        const float dl = mul(half_to_float(uint16_t(super)), exact_float(2 * scale + 1));
        const int h = b.qh[2 * s + l / 2] >> (4 * (l % 2));  // 3 index bits, then the delta sign
        put_iq1(r, kIq1sGridDevice[b.qs[4 * s + l] | ((h & 7) << 8)], dl, h & 8 ? -kIq1DeltaDevice : kIq1DeltaDevice);
        return r;
    }
};

}  // namespace sluice::cuda
