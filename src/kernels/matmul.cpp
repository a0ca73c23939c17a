#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "kernels/dot.h"
#include "kernels/repack.h"

namespace sluice {

namespace {

using kernels::kInterleave;
using kernels::kMaxCols;

// Weight rows of one tile: with kMaxCols activation rows they stay in L1 while every column
// group passes over them.
constexpr int64_t kRowTile = 16;

// Rows per chunk a thread takes at a time: a quarter of a thread's share, in whole row tiles.
// Long contiguous runs matter: on the Zen 4 host of bench/RESULTS.md, 16 KiB chunks handed out
// alternately to two threads streamed 15-18 GB/s, quarter shares 24-30 GB/s (the machine reads
// 28 GB/s). Software prefetch of the next rows was dropped for the same measurement: with
// these runs the hardware prefetchers do better on their own.
int64_t chunk_rows(int64_t rows, int threads) {
    const int64_t share = (rows + 4 * threads - 1) / (4 * threads);
    return std::max<int64_t>(kRowTile, (share + kRowTile - 1) / kRowTile * kRowTile);
}

}  // namespace

void dequantize_row(const Weight& w, int64_t r, float* dst) {
    const kernels::DequantizeFn dequantize = kernels::active_kernels()[w.type].dequantize;
    if (w.layout == Layout::Interleaved8 && r < w.rows / kInterleave * kInterleave) {
        thread_local std::vector<BlockQ4_K> row;
        row.resize(size_t(w.cols / 256));
        kernels::unpack_row(w, r, row.data());
        dequantize(row.data(), dst, w.cols);
        return;
    }
    dequantize(w.row(r), dst, w.cols);
}

void matvec(const Weight& w, const float* x, float* y, ThreadPool& pool) { matmul(w, x, 1, y, pool); }

void matmul(const Weight& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
    const kernels::KernelSet& ks = kernels::active_kernels();
    const kernels::DotFn dot = ks[w.type].dot;
    const kernels::DotRowsFn dot_rows = ks[w.type].dot_rows;
    const GgmlType act = kernels::activation_type(w.type);

    // The activations in the format w's dot product takes, one row per token.
    const uint8_t* xa = reinterpret_cast<const uint8_t*>(x);
    const size_t x_stride = row_bytes(act, w.cols);
    thread_local std::vector<uint8_t> quantized;
    if (const kernels::QuantizeFn quantize = ks.quantizer(act)) {
        quantized.resize(size_t(n) * x_stride);
        uint8_t* q = quantized.data();
        pool.parallel_for(
            n, [&](int, int64_t t0, int64_t t1) {
                for (int64_t t = t0; t < t1; ++t) quantize(x + t * w.cols, q + size_t(t) * x_stride, w.cols);
            },
            8);
        xa = q;
    }

    // Threads take chunks of rows from a shared counter rather than fixed halves: on a machine
    // shared with other work a thread the OS delays leaves its rows to the others.
    const size_t w_stride = w.row_stride();
    const uint8_t* wd = static_cast<const uint8_t*>(w.data);
    const int64_t chunk = chunk_rows(w.rows, pool.size()), n_chunks = (w.rows + chunk - 1) / chunk;
    std::atomic<int64_t> next{0};
    // Interleaved weights: whole groups of eight rows through dot_x8, the rows after them as usual.
    const int64_t grouped = w.layout == Layout::Interleaved8 ? w.rows / kInterleave * kInterleave : 0;
    const kernels::DotX8Fn dot_x8 = grouped ? ks[w.type].dot_x8 : nullptr;
    pool.parallel_for(
        std::min<int64_t>(pool.size(), n_chunks),
        [&](int, int64_t, int64_t) {
            float out[kMaxCols * kInterleave];
            for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < n_chunks;
                 c = next.fetch_add(1, std::memory_order_relaxed)) {
                int64_t r0 = c * chunk;  // a multiple of kRowTile, so of kInterleave
                const int64_t r1 = std::min(w.rows, r0 + chunk);
                for (; r0 < std::min(r1, grouped); r0 += kInterleave)
                    for (int64_t t = 0; t < n; t += kMaxCols) {
                        const int nc = int(std::min<int64_t>(kMaxCols, n - t));
                        dot_x8(w.cols, wd + size_t(r0) * w_stride, xa + size_t(t) * x_stride, x_stride, nc, out);
                        for (int c2 = 0; c2 < nc; ++c2)
                            std::copy_n(out + kInterleave * c2, kInterleave, y + (t + c2) * w.rows + r0);
                    }
                if (dot_rows && n == 1) {
                    for (int64_t r = r0; r < r1; r += kernels::kMaxRows) {
                        const int nr = int(std::min<int64_t>(kernels::kMaxRows, r1 - r));
                        dot_rows(w.cols, wd + size_t(r) * w_stride, w_stride, nr, xa, y + r);
                    }
                    continue;
                }
                for (int64_t rt = r0; rt < r1; rt += kRowTile) {
                    const int64_t rt_end = std::min(r1, rt + kRowTile);
                    for (int64_t t = 0; t < n; t += kMaxCols) {
                        const int nc = int(std::min<int64_t>(kMaxCols, n - t));
                        for (int64_t r = rt; r < rt_end; ++r) {
                            dot(w.cols, wd + size_t(r) * w_stride, xa + size_t(t) * x_stride, x_stride, nc, out);
                            for (int c2 = 0; c2 < nc; ++c2) y[(t + c2) * w.rows + r] = out[c2];
                        }
                    }
                }
            }
        },
        1);
}

}  // namespace sluice
