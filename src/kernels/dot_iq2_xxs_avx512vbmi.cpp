// See dot_iq2_xxs_avx512vbmi.h. Block layout (model-spec §C.5, quant/blocks.h): per 32 values
// (sub-block s) 4 grid index bytes, then a u32 of 4 × 7 sign bits and a 4-bit scale on top.
//
// The 256-entry grid is kept in registers as 2-bit codes: every level of IQ2_XXS is one of
// 8, 25, 43, so an entry is 8 codes, 16 bits, and the table 512 bytes, eight zmm registers.
// vpermi2w looks 32 indices up in 64 entries at once; four of them and three blends do the block.
// Each code word widened to a qword, vpmultishiftqb moves code j to byte j and vpermb turns it
// into its level. The sign bits of a group are its 7 stored bits and their parity (kIq2Signs);
// vpermi2b looks all 32 up in a 128-byte table, and the 256 sign bits, in value order, become
// masks that negate the activations.
//
// Decode (dot_rows, and dot of one activation row) takes the values of a block in another order:
// vector t holds, in qword s, values 32s + 8t .. 32s + 8t + 7 (group t of sub-block s). Then
// qword s of the lookup, of the sign fields and of the scales all come from sub-block s's own
// qword, so the codes widen by one vpmultishiftqb each (no cross-lane permute), the sign masks
// come from the sign bytes by vpshufbitqmb (AVX-512 BITALG; no round trip through general
// registers), and one scale vector serves the whole block: vpdpbusd sums the four vectors and one
// vpmulld scales them. The activations are put in that order once per call for all its rows (two
// vpermt2q and two vshufi64x2 per 128 bytes). Prefill's several activation rows keep the natural
// order, which needs no reordering per activation row. Measured in bench/RESULTS.md.
#include "kernels/dot_iq2_xxs_avx512vbmi.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "kernels/dot.h"
#include "quant/blocks.h"
#include "quant/iq_grids.h"

#include "kernels/avx512_warnings.h"

namespace sluice::kernels {

namespace {

constexpr uint8_t kLevels[4] = {8, 25, 43, 0};

// Entry i of the grid as 2-bit codes of its 8 levels (code of level j at bits 2j, 2j + 1).
const std::array<uint16_t, 256>& grid_codes() {
    static const std::array<uint16_t, 256> codes = [] {
        std::array<uint16_t, 256> t{};
        for (size_t i = 0; i < 256; ++i)
            for (int j = 0; j < 8; ++j) {
                const uint8_t level = grid_level(kIq2xxsGrid[i], j);
                const int code = level == kLevels[0] ? 0 : level == kLevels[1] ? 1 : 2;
                t[i] = uint16_t(t[i] | code << (2 * j));
            }
        return t;
    }();
    return codes;
}

// Byte constants with byte i = f(i), made at compile time.
template <class F>
constexpr std::array<uint8_t, 64> bytes_of(F f) {
    std::array<uint8_t, 64> t{};
    for (int i = 0; i < 64; ++i) t[size_t(i)] = uint8_t(f(i));
    return t;
}
__m512i load(const std::array<uint8_t, 64>& t) { return _mm512_loadu_si512(t.data()); }

// Byte i = the level of code i & 3 (vpermb reads the low 6 bits of each index byte).
constexpr auto kLevelTable = bytes_of([](int i) { return kLevels[i & 3]; });
// Group i (sub-block i / 4, index byte i % 4 of it) to word i: its index byte, zero above.
constexpr auto kIndexBytes = bytes_of([](int i) { return i % 2 ? 0 : 8 * (i / 8) + (i / 2) % 4; });
// Byte j of each qword ← bits 2j .. 2j + 7 of it: code j of the group's word in the low bits.
constexpr auto kCodeShifts = bytes_of([](int i) { return 2 * (i % 8); });
// Bytes 0–3 of each qword ← the 7-bit sign fields at bits 32, 39, 46, 53 (the sub-block's u32).
constexpr auto kSignShifts = bytes_of([](int i) { return 32 + 7 * (i % 8 % 4); });

// The reordered kernel's constants. Byte j of qword s ← code j of group 4s + t: word t of the qword.
template <int t>
constexpr auto kGroupCodeShifts = bytes_of([](int i) { return 16 * t + 2 * (i % 8); });
// Mask bit 8s + j ← bit j of byte t of qword s: the sign bits of group 4s + t.
template <int t>
constexpr auto kGroupSignBits = bytes_of([](int i) { return 8 * t + i % 8; });
// Bytes 0 and 4 of each qword ← bits 59 .. 66: the sub-block's 4-bit scale at bits 1–4.
constexpr auto kScaleShifts = bytes_of([](int) { return 59; });

// One weight row against NC activation rows (stride bytes apart), values in their natural order:
// prefill's columns.
template <int NC>
void dot_columns(int64_t n, const void* w, const void* x, size_t stride, float* out) {
    const uint16_t* codes = grid_codes().data();
    __m512i grid[8];
    for (int k = 0; k < 8; ++k) grid[k] = _mm512_loadu_si512(codes + 32 * k);
    const __m512i signs_lo = _mm512_loadu_si512(kIq2Signs.data()), signs_hi = _mm512_loadu_si512(kIq2Signs.data() + 64);
    const __m512i levels = load(kLevelTable), index_bytes = load(kIndexBytes), code_shifts = load(kCodeShifts),
                  sign_shifts = load(kSignShifts);
    constexpr __mmask64 kEvenBytes = 0x5555555555555555ull;
    // Words 0–15 ← the scale of the pair's first sub-block (qword 2t: word 8t), 16–31 its second.
    __m512i scale_index[4];
    for (int t = 0; t < 4; ++t)
        scale_index[t] = _mm512_mask_mov_epi16(_mm512_set1_epi16(short(8 * t)), 0xFFFF0000u, _mm512_set1_epi16(short(8 * t + 4)));
    // Word 4k ← word 8t + k of the block's codes (t: the pair), zero between: code words as qwords.
    // (A permute, not vextracti32x4: t is not an immediate where the loop stays rolled.)
    __m512i widen_index[4];
    for (int t = 0; t < 4; ++t) widen_index[t] = _mm512_add_epi64(_mm512_set1_epi64(8 * t), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    constexpr __mmask32 kWordPerQword = 0x11111111u;
    const __m512i zero = _mm512_setzero_si512();

    const auto* wb = static_cast<const BlockIQ2_XXS*>(w);
    __m512 acc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / 256; ++i) {
        const __m512i q = _mm512_loadu_si512(wb[i].qs);
        // The 32 grid entries' codes, word i for group i.
        const __m512i index = _mm512_maskz_permutexvar_epi8(kEvenBytes, index_bytes, q);
        const __mmask32 bit6 = _mm512_test_epi16_mask(index, _mm512_set1_epi16(0x40));
        const __mmask32 bit7 = _mm512_test_epi16_mask(index, _mm512_set1_epi16(0x80));
        const __m512i low = _mm512_mask_blend_epi16(bit6, _mm512_permutex2var_epi16(grid[0], index, grid[1]),
                                                    _mm512_permutex2var_epi16(grid[2], index, grid[3]));
        const __m512i high = _mm512_mask_blend_epi16(bit6, _mm512_permutex2var_epi16(grid[4], index, grid[5]),
                                                     _mm512_permutex2var_epi16(grid[6], index, grid[7]));
        const __m512i group_codes = _mm512_mask_blend_epi16(bit7, low, high);
        // The 256 sign bits in value order: sign bytes of groups 4s .. 4s + 3 at bytes 4s ...
        const __m512i sign_bytes = _mm512_permutex2var_epi8(signs_lo, _mm512_multishift_epi64_epi8(sign_shifts, q), signs_hi);
        alignas(32) uint64_t sign_bits[4];
        _mm256_store_si256(reinterpret_cast<__m256i*>(sign_bits), _mm512_cvtepi64_epi32(sign_bytes));
        // 2·scale + 1 of sub-block s in word 4s (the low word of qword s).
        const __m512i scales = _mm512_srli_epi64(q, 60);
        const __m512i odd_scales = _mm512_add_epi64(_mm512_add_epi64(scales, scales), _mm512_set1_epi64(1));

        __m512i sum[NC];
        for (int c = 0; c < NC; ++c) sum[c] = _mm512_setzero_si512();
        for (int t = 0; t < 4; ++t) {
            // Sub-blocks 2t and 2t + 1: 64 levels, their signs and scales.
            const __m512i words = _mm512_maskz_permutexvar_epi16(kWordPerQword, widen_index[t], group_codes);
            const __m512i magnitude = _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(code_shifts, words), levels);
            const __mmask64 negative = _cvtu64_mask64(sign_bits[t]);
            const __m512i scale = _mm512_permutexvar_epi16(scale_index[t], odd_scales);
            for (int c = 0; c < NC; ++c) {
                const auto* xb = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(x) + size_t(c) * stride) + i;
                const __m512i xq = _mm512_loadu_si512(xb->qs + 64 * t);
                const __m512i products = _mm512_maddubs_epi16(magnitude, _mm512_mask_sub_epi8(xq, negative, zero, xq));
                sum[c] = _mm512_dpwssd_epi32(sum[c], products, scale);
            }
        }
        const float d = _cvtsh_ss(wb[i].d) * 0.125f;
        for (int c = 0; c < NC; ++c) {
            const auto* xb = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(x) + size_t(c) * stride) + i;
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[c]), _mm512_set1_ps(xb->d * d), acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = _mm512_reduce_add_ps(acc[c]);
}


// Activation blocks reordered for dot_reordered, a chunk at a time (4 KiB of values on the stack).
constexpr int64_t kChunkBlocks = 16;

struct ReorderedActivations {
    __m512i values[4 * kChunkBlocks];   // block i: vectors 4i .. 4i + 3 (t = 0 .. 3)
    float scales[kChunkBlocks];          // the blocks' d / 8 (IQ2_XXS's scale is d·(2·s + 1)/8)
};

void reorder(const BlockQ8_K* xb, int64_t blocks, ReorderedActivations& out) {
    // Qwords (t, t + 4) of each of two sub-blocks, for t = 0, 1 (lo) and 2, 3 (hi).
    const __m512i lo_pairs = _mm512_setr_epi64(0, 4, 8, 12, 1, 5, 9, 13), hi_pairs = _mm512_setr_epi64(2, 6, 10, 14, 3, 7, 11, 15);
    for (int64_t i = 0; i < blocks; ++i) {
        const __m512i x0 = _mm512_loadu_si512(xb[i].qs), x1 = _mm512_loadu_si512(xb[i].qs + 64),
                      x2 = _mm512_loadu_si512(xb[i].qs + 128), x3 = _mm512_loadu_si512(xb[i].qs + 192);
        const __m512i y0 = _mm512_permutex2var_epi64(x0, lo_pairs, x1), y1 = _mm512_permutex2var_epi64(x0, hi_pairs, x1);
        const __m512i y2 = _mm512_permutex2var_epi64(x2, lo_pairs, x3), y3 = _mm512_permutex2var_epi64(x2, hi_pairs, x3);
        out.values[4 * i] = _mm512_shuffle_i64x2(y0, y2, 0x44);
        out.values[4 * i + 1] = _mm512_shuffle_i64x2(y0, y2, 0xEE);
        out.values[4 * i + 2] = _mm512_shuffle_i64x2(y1, y3, 0x44);
        out.values[4 * i + 3] = _mm512_shuffle_i64x2(y1, y3, 0xEE);
        out.scales[i] = xb[i].d * 0.125f;
    }
}

// The tables of dot_reordered, loaded once per call.
struct ReorderedTables {
    __m512i grid[8], signs_lo, signs_hi, levels, index_bytes, sign_shifts, scale_shifts, code_shifts[4], sign_bits[4];
    ReorderedTables() {
        const uint16_t* codes = grid_codes().data();
        for (int k = 0; k < 8; ++k) grid[k] = _mm512_loadu_si512(codes + 32 * k);
        signs_lo = _mm512_loadu_si512(kIq2Signs.data());
        signs_hi = _mm512_loadu_si512(kIq2Signs.data() + 64);
        levels = load(kLevelTable);
        index_bytes = load(kIndexBytes);
        sign_shifts = load(kSignShifts);
        scale_shifts = load(kScaleShifts);
        code_shifts[0] = load(kGroupCodeShifts<0>), code_shifts[1] = load(kGroupCodeShifts<1>);
        code_shifts[2] = load(kGroupCodeShifts<2>), code_shifts[3] = load(kGroupCodeShifts<3>);
        sign_bits[0] = load(kGroupSignBits<0>), sign_bits[1] = load(kGroupSignBits<1>);
        sign_bits[2] = load(kGroupSignBits<2>), sign_bits[3] = load(kGroupSignBits<3>);
    }
};

// acc + the products of `blocks` blocks of one weight row with the reordered activations. A row's
// blocks are read one after the other: taking the rows of a call in turn per block instead was
// as fast in cache but half as fast from memory (11.8 against 5.7 ns per block).
__m512 row_blocks(const ReorderedTables& T, const BlockIQ2_XXS* wb, int64_t blocks, const ReorderedActivations& x, __m512 acc) {
    constexpr __mmask64 kEvenBytes = 0x5555555555555555ull, kDwordLowBytes = 0x1111111111111111ull;
    for (int64_t i = 0; i < blocks; ++i) {
        const __m512i q = _mm512_loadu_si512(wb[i].qs);
        // The 32 grid entries' codes, word g for group g (qword s: sub-block s).
        const __m512i index = _mm512_maskz_permutexvar_epi8(kEvenBytes, T.index_bytes, q);
        const __mmask32 bit6 = _mm512_test_epi16_mask(index, _mm512_set1_epi16(0x40));
        const __mmask32 bit7 = _mm512_test_epi16_mask(index, _mm512_set1_epi16(0x80));
        const __m512i low = _mm512_mask_blend_epi16(bit6, _mm512_permutex2var_epi16(T.grid[0], index, T.grid[1]),
                                                    _mm512_permutex2var_epi16(T.grid[2], index, T.grid[3]));
        const __m512i high = _mm512_mask_blend_epi16(bit6, _mm512_permutex2var_epi16(T.grid[4], index, T.grid[5]),
                                                     _mm512_permutex2var_epi16(T.grid[6], index, T.grid[7]));
        const __m512i group_codes = _mm512_mask_blend_epi16(bit7, low, high);
        // Byte 8s + k: the 8 sign bits of group 4s + k.
        const __m512i sign_bytes = _mm512_permutex2var_epi8(T.signs_lo, _mm512_multishift_epi64_epi8(T.sign_shifts, q), T.signs_hi);
        // Both dwords of qword s: 2·scale + 1 of sub-block s.
        const __m512i scale = _mm512_ternarylogic_epi32(_mm512_maskz_multishift_epi64_epi8(kDwordLowBytes, T.scale_shifts, q),
                                                        _mm512_set1_epi32(0x1E), _mm512_set1_epi32(1), 0xEA);
        __m512i sum = _mm512_setzero_si512();
        for (int t = 0; t < 4; ++t) {
            const __m512i magnitude = _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(T.code_shifts[t], group_codes), T.levels);
            const __mmask64 negative = _mm512_bitshuffle_epi64_mask(sign_bytes, T.sign_bits[t]);
            const __m512i xt = x.values[4 * i + t];
            sum = _mm512_dpbusd_epi32(sum, magnitude, _mm512_mask_sub_epi8(xt, negative, _mm512_setzero_si512(), xt));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_mullo_epi32(sum, scale)), _mm512_set1_ps(x.scales[i] * _cvtsh_ss(wb[i].d)), acc);
    }
    return acc;
}

// nr weight rows (w_stride bytes apart) against one activation row, values in the reordered
// layout (see the top of the file): decode, up to kMaxRows rows a call, so that the tables are
// loaded and each activation block reordered once for all of them.
void dot_reordered(int64_t n, const void* w, size_t w_stride, int nr, const void* x, float* out) {
    const ReorderedTables tables;
    ReorderedActivations xr;
    __m512 acc[kMaxRows];
    for (int r = 0; r < nr; ++r) acc[r] = _mm512_setzero_ps();
    const int64_t nb = n / 256;
    for (int64_t i0 = 0; i0 < nb; i0 += kChunkBlocks) {
        const int64_t blocks = std::min(kChunkBlocks, nb - i0);
        reorder(static_cast<const BlockQ8_K*>(x) + i0, blocks, xr);
        for (int r = 0; r < nr; ++r) {
            const auto* wb = reinterpret_cast<const BlockIQ2_XXS*>(static_cast<const uint8_t*>(w) + size_t(r) * w_stride) + i0;
            acc[r] = row_blocks(tables, wb, blocks, xr, acc[r]);
        }
    }
    for (int r = 0; r < nr; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

}  // namespace

void dot_iq2_xxs_avx512vbmi(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out) {
    // One activation row as decode's rows kernel computes it, so that both give the same sums.
    switch (nc) {
        case 1: dot_reordered(n, w, 0, 1, x, out); break;
        case 2: dot_columns<2>(n, w, x, x_stride, out); break;
        case 3: dot_columns<3>(n, w, x, x_stride, out); break;
        default: dot_columns<4>(n, w, x, x_stride, out); break;
    }
}

void dot_rows_iq2_xxs_avx512vbmi(int64_t n, const void* w, size_t w_stride, int nr, const void* x, float* out) {
    dot_reordered(n, w, w_stride, std::min(nr, kMaxRows), x, out);
}

}  // namespace sluice::kernels
