// The portable kernel table: plain C++ for any CPU, written as the definition of what the
// SIMD kernels compute (integer sums per block, scaled per block). Dequantisation is the
// scalar reference itself.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dot.h"
#include "kernels/repack.h"
#include "quant/blocks.h"
#include "quant/iq_levels.h"
#include "quant/row_conversions.h"
#include "quant/scale_search.h"
#include "util/half.h"

namespace sluice::kernels {

namespace {

// Σ over blocks of block_dot(weight block, activation block), for each of nc activation rows.
template <class WBlock, class XBlock, int ValuesPerBlock, class BlockDot>
void dot_blocks(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out, BlockDot block_dot) {
    const WBlock* wb = static_cast<const WBlock*>(w);
    for (int c = 0; c < nc; ++c) {
        const XBlock* xb = reinterpret_cast<const XBlock*>(static_cast<const uint8_t*>(x) + size_t(c) * x_stride);
        float sum = 0;
        for (int64_t b = 0; b < n / ValuesPerBlock; ++b) sum += block_dot(wb[b], xb[b]);
        out[c] = sum;
    }
}

template <class Widen>
void dot_float(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out, Widen widen) {
    for (int c = 0; c < nc; ++c) {
        const float* xc = reinterpret_cast<const float*>(static_cast<const uint8_t*>(x) + size_t(c) * x_stride);
        float sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += widen(w, i) * xc[i];
        out[c] = sum;
    }
}

void dot_f32(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_float(n, w, x, s, nc, out, [](const void* p, int64_t i) { return static_cast<const float*>(p)[i]; });
}
void dot_f16(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_float(n, w, x, s, nc, out, [](const void* p, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(p)[i]); });
}
void dot_bf16(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_float(n, w, x, s, nc, out, [](const void* p, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(p)[i]); });
}

// Σ_j level(j)·x.qs[j] over a 32-value block.
template <class Level>
int isum32(const int8_t* xq, Level level) {
    int s = 0;
    for (int j = 0; j < 32; ++j) s += level(j) * xq[j];
    return s;
}

int nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }
int bit5(const uint8_t* qh, int j) { return (qh[j / 8] >> (j % 8)) & 1; }

void dot_q8_0(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ8_0, BlockQ8_0, 32>(n, w, x, s, nc, out, [](const BlockQ8_0& a, const BlockQ8_0& b) {
        return f16_to_f32(a.d) * f16_to_f32(b.d) * float(isum32(b.qs, [&](int j) { return int(a.qs[j]); }));
    });
}
void dot_q4_0(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ4_0, BlockQ8_0, 32>(n, w, x, s, nc, out, [](const BlockQ4_0& a, const BlockQ8_0& b) {
        return f16_to_f32(a.d) * f16_to_f32(b.d) * float(isum32(b.qs, [&](int j) { return nibble(a.qs, j) - 8; }));
    });
}
void dot_q5_0(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ5_0, BlockQ8_0, 32>(n, w, x, s, nc, out, [](const BlockQ5_0& a, const BlockQ8_0& b) {
        const int i = isum32(b.qs, [&](int j) { return (nibble(a.qs, j) | bit5(a.qh, j) << 4) - 16; });
        return f16_to_f32(a.d) * f16_to_f32(b.d) * float(i);
    });
}
void dot_iq4_nl(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockIQ4_NL, BlockQ8_0, 32>(n, w, x, s, nc, out, [](const BlockIQ4_NL& a, const BlockQ8_0& b) {
        const int i = isum32(b.qs, [&](int j) { return int(kIq4Values[nibble(a.qs, j)]); });
        return f16_to_f32(a.d) * f16_to_f32(b.d) * float(i);
    });
}
void dot_mxfp4(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockMXFP4, BlockQ8_0, 32>(n, w, x, s, nc, out, [](const BlockMXFP4& a, const BlockQ8_0& b) {
        const int i = isum32(b.qs, [&](int j) { return int(kMxfp4Values[nibble(a.qs, j)]); });
        return e8m0_half(a.e) * f16_to_f32(b.d) * float(i);
    });
}
// The _1 types: Σ(q·d + m)·x = d·dx·Σq·qx + m·(dx·Σqx), the last factor being Q8_1's s.
void dot_q4_1(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ4_1, BlockQ8_1, 32>(n, w, x, s, nc, out, [](const BlockQ4_1& a, const BlockQ8_1& b) {
        const int i = isum32(b.qs, [&](int j) { return nibble(a.qs, j); });
        return f16_to_f32(a.d) * f16_to_f32(b.d) * float(i) + f16_to_f32(a.m) * f16_to_f32(b.s);
    });
}
void dot_q5_1(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ5_1, BlockQ8_1, 32>(n, w, x, s, nc, out, [](const BlockQ5_1& a, const BlockQ8_1& b) {
        const int i = isum32(b.qs, [&](int j) { return nibble(a.qs, j) | bit5(a.qh, j) << 4; });
        return f16_to_f32(a.d) * f16_to_f32(b.d) * float(i) + f16_to_f32(a.m) * f16_to_f32(b.s);
    });
}

// K-quants against Q8_K: Σ_sub scale_sub·Σ q·qx in integers; minimums through the bsums.
int q2_level(const uint8_t* qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

void dot_q2_k(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ2_K, BlockQ8_K, 256>(n, w, x, s, nc, out, [](const BlockQ2_K& a, const BlockQ8_K& b) {
        int scaled = 0, mins = 0;
        for (int sub = 0; sub < 16; ++sub) {
            int dot = 0;
            for (int e = 16 * sub; e < 16 * sub + 16; ++e) dot += q2_level(a.qs, e) * b.qs[e];
            scaled += (a.scales[sub] & 0xF) * dot;
            mins += (a.scales[sub] >> 4) * b.bsums[sub];
        }
        return b.d * f16_to_f32(a.d) * float(scaled) - b.d * f16_to_f32(a.dmin) * float(mins);
    });
}

void dot_q3_k(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ3_K, BlockQ8_K, 256>(n, w, x, s, nc, out, [](const BlockQ3_K& a, const BlockQ8_K& b) {
        int scaled = 0;
        for (int sub = 0; sub < 16; ++sub) {
            int dot = 0;
            for (int e = 16 * sub; e < 16 * sub + 16; ++e) {
                const int high = (a.hmask[e % 32] >> (e / 32)) & 1;
                dot += (q2_level(a.qs, e) - (high ? 0 : 4)) * b.qs[e];
            }
            scaled += q3k_scale(sub, a.scales) * dot;
        }
        return b.d * f16_to_f32(a.d) * float(scaled);
    });
}

template <class Level>
float dot_k4(uint16_t d, uint16_t dmin, const uint8_t* scales, const BlockQ8_K& b, Level level) {
    int scaled = 0, mins = 0;
    for (int sub = 0; sub < 8; ++sub) {
        uint8_t sc, m;
        k4_scale_min(sub, scales, sc, m);
        int dot = 0;
        for (int e = 32 * sub; e < 32 * sub + 32; ++e) dot += level(e) * b.qs[e];
        scaled += sc * dot;
        mins += m * (b.bsums[2 * sub] + b.bsums[2 * sub + 1]);
    }
    return b.d * f16_to_f32(d) * float(scaled) - b.d * f16_to_f32(dmin) * float(mins);
}

void dot_q4_k(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ4_K, BlockQ8_K, 256>(n, w, x, s, nc, out, [](const BlockQ4_K& a, const BlockQ8_K& b) {
        return dot_k4(a.d, a.dmin, a.scales, b, [&](int e) {
            const uint8_t q = a.qs[32 * (e / 64) + e % 32];
            return (e % 64) < 32 ? q & 0xF : q >> 4;
        });
    });
}

void dot_q5_k(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ5_K, BlockQ8_K, 256>(n, w, x, s, nc, out, [](const BlockQ5_K& a, const BlockQ8_K& b) {
        return dot_k4(a.d, a.dmin, a.scales, b, [&](int e) {
            const uint8_t q = a.qs[32 * (e / 64) + e % 32];
            return ((e % 64) < 32 ? q & 0xF : q >> 4) | ((a.qh[e % 32] >> (e / 32)) & 1) << 4;
        });
    });
}

void dot_q6_k(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockQ6_K, BlockQ8_K, 256>(n, w, x, s, nc, out, [](const BlockQ6_K& a, const BlockQ8_K& b) {
        int scaled = 0;
        for (int sub = 0; sub < 16; ++sub) {
            int dot = 0;
            for (int e = 16 * sub; e < 16 * sub + 16; ++e) {
                const int h = e / 128, k = (e % 128) / 32, l = e % 32;
                const uint8_t ql = a.ql[64 * h + 32 * (k % 2) + l];
                const int q = ((k < 2 ? ql & 0xF : ql >> 4) | ((a.qh[32 * h + l] >> (2 * k)) & 3) << 4) - 32;
                dot += q * b.qs[e];
            }
            scaled += a.scales[sub] * dot;
        }
        return b.d * f16_to_f32(a.d) * float(scaled);
    });
}

void dot_iq4_xs(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<BlockIQ4_XS, BlockQ8_K, 256>(n, w, x, s, nc, out, [](const BlockIQ4_XS& a, const BlockQ8_K& b) {
        int scaled = 0;
        for (int sub = 0; sub < 8; ++sub) {
            const int dot = isum32(b.qs + 32 * sub, [&](int j) { return int(kIq4Values[nibble(a.qs + 16 * sub, j)]); });
            scaled += iq4xs_scale(a, sub) * dot;
        }
        return b.d * f16_to_f32(a.d) * float(scaled);
    });
}

// The grid-indexed IQ types: Σ_sub scale·Σ level·qx in integers, the IQ1 deltas through sums of
// 8 activations; then one float product per super-block (llama.cpp's generic form).
template <class Block>
void dot_iq(int64_t n, const void* w, const void* x, size_t s, int nc, float* out) {
    dot_blocks<Block, BlockQ8_K, 256>(n, w, x, s, nc, out, [](const Block& a, const BlockQ8_K& b) {
        quant::IqLevels q;
        quant::iq_levels(a, q);
        int scaled = 0, deltas = 0;
        for (int sub = 0; sub < 16; ++sub) {
            int dot = 0, delta = 0;
            for (int e = 16 * sub; e < 16 * sub + 16; ++e) {
                dot += q.level[e] * b.qs[e];
                delta += q.delta_sign[e / 8] * b.qs[e];
            }
            scaled += q.scale[sub] * dot;
            deltas += q.scale[sub] * delta;
        }
        return q.d * b.d * (q.factor * (float(scaled) + kIq1Delta * float(deltas)));
    });
}

// Q8_0 / Q8_1 activations: q = round-to-even(x·127/amax), d = amax/127 as half.
template <class Block>
void quantize_q8_act(const float* src, void* dst, int64_t n) {
    Block* b = static_cast<Block*>(dst);
    for (int64_t i = 0; i < n / 32; ++i, src += 32) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        b[i].d = f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            b[i].qs[j] = int8_t(quant::nearest_int(src[j] * id));
            sum += b[i].qs[j];
        }
        if constexpr (sizeof(Block) == sizeof(BlockQ8_1)) b[i].s = f32_to_f16(d * float(sum));
    }
}

// The reference for the V of a q8_0 KV cache: each row dequantised, scaled and added in order.
void weighted_rows_q8_0(int64_t n, int64_t len, const void* v, size_t v_stride, const float* w, size_t w_step, int nc,
                        float* out, size_t out_step) {
    float row[32];
    for (int64_t p = 0; p < len; ++p) {
        const auto* blocks = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(v) + size_t(p) * v_stride);
        for (int64_t b = 0; b < n / 32; ++b) {
            quant::dequantize_q8_0(blocks + b, row, 32);
            for (int c = 0; c < nc; ++c) {
                const float wc = w[size_t(c) * w_step + size_t(p)];
                float* o = out + size_t(c) * out_step + size_t(32 * b);
                for (int i = 0; i < 32; ++i) o[i] += wc * row[i];
            }
        }
    }
}

// The reference for the interleaved types: each row unpacked to ordinary blocks, then the type's
// row kernel.
template <GgmlType T, DotFn Dot>
void dot_x8(int64_t n, const void* w, const void* x, size_t stride, int nc, float* out) {
    thread_local std::vector<uint8_t> row;
    row.resize(row_bytes(T, n));
    const Weight group{T, w, kInterleave, n, Layout::Interleaved8};
    for (int r = 0; r < kInterleave; ++r) {
        unpack_row(group, r, row.data());
        float o[kMaxCols];
        Dot(n, row.data(), x, stride, nc, o);
        for (int c = 0; c < nc; ++c) out[8 * c + r] = o[c];
    }
}

KernelSet make_portable() {
    KernelSet k;
    k.isa = Isa::Portable;
    auto set = [&](GgmlType t, DotFn dot, DequantizeFn deq) { k.types[uint32_t(t)] = {dot, deq}; };
    using namespace quant;
    set(GgmlType::F32, dot_f32, [](const void* s, float* d, int64_t n) { dequantize_row_ref(GgmlType::F32, s, d, n); });
    set(GgmlType::F16, dot_f16, dequantize_f16);
    set(GgmlType::BF16, dot_bf16, dequantize_bf16);
    set(GgmlType::Q4_0, dot_q4_0, dequantize_q4_0);
    set(GgmlType::Q4_1, dot_q4_1, dequantize_q4_1);
    set(GgmlType::Q5_0, dot_q5_0, dequantize_q5_0);
    set(GgmlType::Q5_1, dot_q5_1, dequantize_q5_1);
    set(GgmlType::Q8_0, dot_q8_0, dequantize_q8_0);
    set(GgmlType::Q2_K, dot_q2_k, dequantize_q2_k);
    set(GgmlType::Q3_K, dot_q3_k, dequantize_q3_k);
    set(GgmlType::Q4_K, dot_q4_k, dequantize_q4_k);
    set(GgmlType::Q5_K, dot_q5_k, dequantize_q5_k);
    set(GgmlType::Q6_K, dot_q6_k, dequantize_q6_k);
    set(GgmlType::IQ4_NL, dot_iq4_nl, dequantize_iq4_nl);
    set(GgmlType::IQ4_XS, dot_iq4_xs, dequantize_iq4_xs);
    set(GgmlType::MXFP4, dot_mxfp4, dequantize_mxfp4);
    set(GgmlType::IQ2_XXS, dot_iq<BlockIQ2_XXS>, dequantize_iq2_xxs);
    set(GgmlType::IQ2_XS, dot_iq<BlockIQ2_XS>, dequantize_iq2_xs);
    set(GgmlType::IQ2_S, dot_iq<BlockIQ2_S>, dequantize_iq2_s);
    set(GgmlType::IQ3_XXS, dot_iq<BlockIQ3_XXS>, dequantize_iq3_xxs);
    set(GgmlType::IQ3_S, dot_iq<BlockIQ3_S>, dequantize_iq3_s);
    set(GgmlType::IQ1_S, dot_iq<BlockIQ1_S>, dequantize_iq1_s);
    set(GgmlType::IQ1_M, dot_iq<BlockIQ1_M>, dequantize_iq1_m);
    k.types[uint32_t(GgmlType::Q4_K)].dot_x8 = dot_x8<GgmlType::Q4_K, dot_q4_k>;
    k.types[uint32_t(GgmlType::Q6_K)].dot_x8 = dot_x8<GgmlType::Q6_K, dot_q6_k>;
    k.quantize_q8_0 = quantize_q8_act<BlockQ8_0>;
    k.quantize_q8_1 = quantize_q8_act<BlockQ8_1>;
    k.quantize_q8_k = quantize_q8_k;
    k.weighted_rows_q8_0 = weighted_rows_q8_0;
    return k;
}

}  // namespace

const KernelSet& portable_kernels() {
    static const KernelSet set = make_portable();
    return set;
}

}  // namespace sluice::kernels
