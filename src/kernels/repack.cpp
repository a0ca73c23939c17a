#include "kernels/repack.h"

#include <cstring>
#include <vector>

#include "util/error.h"

namespace sluice::kernels {

bool can_repack(const Weight& w) {
    return (w.type == GgmlType::Q4_K || w.type == GgmlType::Q6_K) && w.layout == Layout::Rows && w.rows >= kInterleave &&
           w.cols % 256 == 0;
}

namespace {

// to[c][row] = bytes 4c .. 4c + 3 of `from` (one row's 128 bytes), and back.
void scatter(uint8_t (&to)[32][kInterleave][4], int row, const uint8_t* from) {
    for (int c = 0; c < 32; ++c) std::memcpy(to[c][row], from + 4 * c, 4);
}
void gather(uint8_t* to, const uint8_t (&from)[32][kInterleave][4], int row) {
    for (int c = 0; c < 32; ++c) std::memcpy(to + 4 * c, from[c][row], 4);
}

// One row's super-block into its place in the interleaved one, and back.
void interleave(const BlockQ4_K& b, int r, BlockQ4_Kx8& x) {
    x.d[r] = b.d;
    x.dmin[r] = b.dmin;
    std::memcpy(x.a0[r], b.scales, 4);
    std::memcpy(x.a1[r], b.scales + 4, 4);
    std::memcpy(x.a2[r], b.scales + 8, 4);
    scatter(reinterpret_cast<uint8_t(&)[32][kInterleave][4]>(x.qs), r, b.qs);
}
void deinterleave(const BlockQ4_Kx8& x, int r, BlockQ4_K& b) {
    b.d = x.d[r];
    b.dmin = x.dmin[r];
    std::memcpy(b.scales, x.a0[r], 4);
    std::memcpy(b.scales + 4, x.a1[r], 4);
    std::memcpy(b.scales + 8, x.a2[r], 4);
    gather(b.qs, reinterpret_cast<const uint8_t(&)[32][kInterleave][4]>(x.qs), r);
}

// Where the 4 bytes at ql[4c] and qh[4c] of row r go in BlockQ6_Kx8::q (X: the block, const or not).
template <class X>
auto* ql_chunk(X& x, int c, int r) { return x.q[c / 16][c % 8][c / 8 % 2][r]; }
template <class X>
auto* qh_chunk(X& x, int c, int r) { return x.q[c / 8][c % 8][2][r]; }

void interleave(const BlockQ6_K& b, int r, BlockQ6_Kx8& x) {
    x.d[r] = b.d;
    for (int j = 0; j < 16; ++j) x.scales[j][r] = b.scales[j];
    for (int c = 0; c < 32; ++c) std::memcpy(ql_chunk(x, c, r), b.ql + 4 * c, 4);
    for (int c = 0; c < 16; ++c) std::memcpy(qh_chunk(x, c, r), b.qh + 4 * c, 4);
}
void deinterleave(const BlockQ6_Kx8& x, int r, BlockQ6_K& b) {
    b.d = x.d[r];
    for (int j = 0; j < 16; ++j) b.scales[j] = x.scales[j][r];
    for (int c = 0; c < 32; ++c) std::memcpy(b.ql + 4 * c, ql_chunk(x, c, r), 4);
    for (int c = 0; c < 16; ++c) std::memcpy(b.qh + 4 * c, qh_chunk(x, c, r), 4);
}

// The eight rows starting at `rows` (row_stride bytes apart) into `out`, blocks super-blocks.
template <class Block, class BlockX8>
void repack_group(const uint8_t* rows, size_t row_stride, int64_t blocks, void* out) {
    for (int64_t i = 0; i < blocks; ++i)
        for (int r = 0; r < kInterleave; ++r)
            interleave(reinterpret_cast<const Block*>(rows + size_t(r) * row_stride)[i], r, static_cast<BlockX8*>(out)[i]);
}

void repack_group(GgmlType t, const uint8_t* rows, size_t row_stride, int64_t blocks, void* out) {
    if (t == GgmlType::Q4_K) repack_group<BlockQ4_K, BlockQ4_Kx8>(rows, row_stride, blocks, out);
    else repack_group<BlockQ6_K, BlockQ6_Kx8>(rows, row_stride, blocks, out);
}

template <class Block, class BlockX8>
void unpack_row(const uint8_t* group, int row, int64_t blocks, void* dst) {
    for (int64_t i = 0; i < blocks; ++i)
        deinterleave(reinterpret_cast<const BlockX8*>(group)[i], row, static_cast<Block*>(dst)[i]);
}

void check_repackable(const Weight& w) {
    if (!can_repack(w)) fail("repack: a {} [{}, {}] weight cannot be interleaved", type_name(w.type), w.rows, w.cols);
}

Weight interleaved(Weight w, const void* data) {
    w.data = data;
    w.layout = Layout::Interleaved8;
    return w;
}

}  // namespace

// A copy, interleaved where it lands.
Weight repack(const Weight& w, void* dst) {
    check_repackable(w);
    std::memcpy(dst, w.data, w.bytes());
    Weight copy = w;
    copy.data = dst;
    return repack_in_place(copy);
}

// A group of rows occupies the same bytes interleaved, so one group's copy is all the scratch.
Weight repack_in_place(const Weight& w) {
    check_repackable(w);
    const size_t group_bytes = kInterleave * w.row_stride();
    std::vector<uint8_t> group(group_bytes);
    auto* data = static_cast<uint8_t*>(const_cast<void*>(w.data));
    for (int64_t g = 0; g < w.rows / kInterleave; ++g) {
        uint8_t* at = data + size_t(g) * group_bytes;
        std::memcpy(group.data(), at, group_bytes);
        repack_group(w.type, group.data(), w.row_stride(), w.cols / 256, at);
    }
    return interleaved(w, w.data);
}

void unpack_row(const Weight& w, int64_t r, void* dst) {
    const uint8_t* group = w.row(r / kInterleave * kInterleave);
    const int row = int(r % kInterleave);
    if (w.type == GgmlType::Q4_K) unpack_row<BlockQ4_K, BlockQ4_Kx8>(group, row, w.cols / 256, dst);
    else unpack_row<BlockQ6_K, BlockQ6_Kx8>(group, row, w.cols / 256, dst);
}

}  // namespace sluice::kernels
