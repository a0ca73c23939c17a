#include "kernels/repack.h"

#include <cstring>
#include <vector>

#include "util/error.h"

namespace sluice::kernels {

bool can_repack(const Weight& w) {
    return w.type == GgmlType::Q4_K && w.layout == Layout::Rows && w.rows >= kInterleave && w.cols % 256 == 0;
}

namespace {

// The eight rows starting at `rows` (row_stride bytes apart) into `out`, blocks super-blocks.
void repack_group(const uint8_t* rows, size_t row_stride, int64_t blocks, BlockQ4_Kx8* out) {
    for (int64_t i = 0; i < blocks; ++i) {
        BlockQ4_Kx8& x = out[i];
        for (int r = 0; r < kInterleave; ++r) {
            const BlockQ4_K& b = reinterpret_cast<const BlockQ4_K*>(rows + size_t(r) * row_stride)[i];
            x.d[r] = b.d;
            x.dmin[r] = b.dmin;
            std::memcpy(x.a0[r], b.scales, 4);
            std::memcpy(x.a1[r], b.scales + 4, 4);
            std::memcpy(x.a2[r], b.scales + 8, 4);
            uint32_t q[32];
            std::memcpy(q, b.qs, sizeof(q));
            for (int j = 0; j < 32; ++j) std::memcpy(x.qs[j / 8][j % 8][r], &q[j], 4);
        }
    }
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

Weight repack(const Weight& w, void* dst) {
    check_repackable(w);
    const int64_t groups = w.rows / kInterleave, blocks = w.cols / 256;
    auto* out = static_cast<BlockQ4_Kx8*>(dst);
    for (int64_t g = 0; g < groups; ++g) repack_group(w.row(g * kInterleave), w.row_stride(), blocks, out + g * blocks);
    const size_t whole = size_t(groups * kInterleave) * w.row_stride();
    std::memcpy(static_cast<uint8_t*>(dst) + whole, static_cast<const uint8_t*>(w.data) + whole, w.bytes() - whole);
    return interleaved(w, dst);
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
        repack_group(group.data(), w.row_stride(), w.cols / 256, reinterpret_cast<BlockQ4_Kx8*>(at));
    }
    return interleaved(w, w.data);
}

void unpack_row(const Weight& w, int64_t r, BlockQ4_K* dst) {
    const int64_t blocks = w.cols / 256, g = r / kInterleave;
    const int row = int(r % kInterleave);
    const auto* in = reinterpret_cast<const BlockQ4_Kx8*>(w.row(g * kInterleave));
    for (int64_t i = 0; i < blocks; ++i) {
        const BlockQ4_Kx8& x = in[i];
        BlockQ4_K& b = dst[i];
        b.d = x.d[row];
        b.dmin = x.dmin[row];
        std::memcpy(b.scales, x.a0[row], 4);
        std::memcpy(b.scales + 4, x.a1[row], 4);
        std::memcpy(b.scales + 8, x.a2[row], 4);
        for (int p = 0; p < 4; ++p)
            for (int k = 0; k < 8; ++k) std::memcpy(b.qs + 32 * p + 4 * k, x.qs[p][k][row], 4);
    }
}

}  // namespace sluice::kernels
