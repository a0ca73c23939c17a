// Q4_K and Q6_K weights repacked eight rows at a time for decode (matrix × vector).
//
// In GGUF's layout a row is a run of super-blocks, and a dot product works along one row: every
// 16 or 32 values it must broadcast that sub-block's scale across the vector and at the end add
// the vector's lanes together. In the interleaved layouts ("x8") the vector lanes are eight rows:
// one 32-byte load holds 4 bytes of each of rows 8g..8g+7, the same positions, so a single byte
// dot product (VNNI vpdpbusd) against one broadcast group of activations gives all eight rows'
// partial sums, a sub-block's scales are one vector of the eight rows' scales, and the result is
// eight finished dots. Half the instructions per weight byte of the row-wise kernel; the same
// bytes (8 × the super-block), so the same memory traffic. llama.cpp repacks Q4_K for the same
// reason; these layouts are our own, chosen for vpdpbusd.
//
// Q4_K super-block i of group g, 1,152 bytes:
//   d[8], dmin[8]       half floats of rows 0..7
//   a0[8][4], a1[8][4], a2[8][4]   bytes 0-3, 4-7 and 8-11 of each row's 12 packed scale bytes
//   qs[4][8][8][4]      [p][k][row][b] = the row's qs[32p + 4k + b] (low nibbles: values
//                       64p + 4k + b, high nibbles: values 64p + 32 + 4k + b)
// Q6_K super-block i of group g, 1,680 bytes:
//   d[8]                half floats of rows 0..7
//   scales[16][8]       [j][row] = the row's scale of sub-block j (values 16j .. 16j + 15)
//   q[2][8][3][8][4]    [h][k][0][row][b] = the row's ql[64h + 4k + b], [h][k][1][row][b] its
//                       ql[64h + 32 + 4k + b], [h][k][2][row][b] its qh[32h + 4k + b]: the bytes
//                       of values 128h + 4k + b + {0, 32, 64, 96}, in the order the kernel reads
//                       them (a first layout, all ql then all qh, made three streams in a block
//                       and was read 4× slower from memory: bench/RESULTS.md)
// Groups follow each other (g = 0, 1, …); rows beyond the last whole group (rows % 8) follow in
// the ordinary layout.
#pragma once
#include <cstdint>

#include "kernels/matmul.h"
#include "quant/blocks.h"

namespace sluice::kernels {

inline constexpr int kInterleave = 8;

struct BlockQ4_Kx8 {
    uint16_t d[8], dmin[8];
    uint8_t a0[8][4], a1[8][4], a2[8][4];
    uint8_t qs[4][8][8][4];
};
static_assert(sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K));

struct BlockQ6_Kx8 {
    uint16_t d[8];
    int8_t scales[16][8];
    uint8_t q[2][8][3][8][4];
};
static_assert(sizeof(BlockQ6_Kx8) == 8 * sizeof(BlockQ6_K));

// Whether repack() takes w: Q4_K or Q6_K in the ordinary layout with at least one whole group
// of rows.
bool can_repack(const Weight& w);

// Writes w (ordinary layout) into dst (w.bytes() bytes, not overlapping w.data) in the
// interleaved layout and returns the weight that reads it.
Weight repack(const Weight& w, void* dst);

// Repacks w (in memory of ours) in place, a group of rows at a time.
Weight repack_in_place(const Weight& w);

// Row r (r < whole groups · 8) of an interleaved weight as ordinary blocks of its type, into dst
// (w.row_stride() bytes).
void unpack_row(const Weight& w, int64_t r, void* dst);

}  // namespace sluice::kernels
