#include "kernels/matmul.h"

#include <algorithm>
#include <vector>

#include "kernels/dot.h"
#include "kernels/repack.h"
#include "util/stealing_ranges.h"
#include "util/error.h"

namespace sluice {

namespace {

using kernels::kInterleave;
using kernels::kMaxCols;

// Weight rows of one tile: with kMaxCols activation rows they stay in L1 while every column
// group passes over them.
constexpr int64_t kRowTile = 16;

}  // namespace

void dequantize_row(const Weight& w, int64_t r, float* dst) {
    const kernels::DequantizeFn dequantize = kernels::active_kernels()[w.type].dequantize;
    if (w.layout == Layout::Interleaved8 && r < w.rows / kInterleave * kInterleave) {
        thread_local std::vector<uint8_t> row;
        row.resize(w.row_stride());
        kernels::unpack_row(w, r, row.data());
        dequantize(row.data(), dst, w.cols);
        return;
    }
    dequantize(w.row(r), dst, w.cols);
}

namespace {

// Rows [r0, r1) of w (r0 a multiple of kRowTile) times the n activation rows xa (each x_stride
// bytes, in the format w's dot product takes) into y [n, w.rows].
void multiply_rows(const Weight& w, const uint8_t* xa, size_t x_stride, int64_t n, int64_t r0, int64_t r1, float* y) {
    const kernels::TypeKernels& k = kernels::active_kernels()[w.type];
    const size_t w_stride = w.row_stride();
    const uint8_t* wd = static_cast<const uint8_t*>(w.data);
    float out[kMaxCols * kInterleave];
    // Interleaved weights: whole groups of eight rows through dot_x8, the rows after them as usual.
    const int64_t grouped = w.layout == Layout::Interleaved8 ? w.rows / kInterleave * kInterleave : 0;
    for (; r0 < std::min(r1, grouped); r0 += kInterleave)
        for (int64_t t = 0; t < n; t += kMaxCols) {
            const int nc = int(std::min<int64_t>(kMaxCols, n - t));
            k.dot_x8(w.cols, wd + size_t(r0) * w_stride, xa + size_t(t) * x_stride, x_stride, nc, out);
            for (int c = 0; c < nc; ++c) std::copy_n(out + kInterleave * c, kInterleave, y + (t + c) * w.rows + r0);
        }
    if (k.dot_rows && n == 1) {
        for (int64_t r = r0; r < r1; r += kernels::kMaxRows) {
            const int nr = int(std::min<int64_t>(kernels::kMaxRows, r1 - r));
            k.dot_rows(w.cols, wd + size_t(r) * w_stride, w_stride, nr, xa, y + r);
        }
        return;
    }
    for (int64_t rt = r0; rt < r1; rt += kRowTile) {
        const int64_t rt_end = std::min(r1, rt + kRowTile);
        for (int64_t t = 0; t < n; t += kMaxCols) {
            const int nc = int(std::min<int64_t>(kMaxCols, n - t));
            for (int64_t r = rt; r < rt_end; ++r) {
                k.dot(w.cols, wd + size_t(r) * w_stride, xa + size_t(t) * x_stride, x_stride, nc, out);
                for (int c = 0; c < nc; ++c) y[(t + c) * w.rows + r] = out[c];
            }
        }
    }
}

}  // namespace

void matvec(const Weight& w, const float* x, float* y, ThreadPool& pool) { matmul(w, x, 1, y, pool); }

void matmul(const Weight& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
    const Weight* ws[] = {&w};
    float* ys[] = {y};
    matmul_shared_input(ws, x, n, ys, pool);
}

void matmul_shared_input(std::span<const Weight* const> ws, const float* x, int64_t n, std::span<float* const> ys,
                         ThreadPool& pool) {
    const kernels::KernelSet& ks = kernels::active_kernels();
    const int64_t cols = ws[0]->cols;
    for (const Weight* w : ws)
        if (w->cols != cols)
            fail("matmul_shared_input: a {} [{}, {}] weight does not take the input of a {} [{}, {}] one",
                 type_name(w->type), w->rows, w->cols, type_name(ws[0]->type), ws[0]->rows, cols);

    // The activations in each format the dot products take (one row per token), each made once.
    struct Input {
        GgmlType type;
        const uint8_t* data;
        size_t stride;
    };
    thread_local std::vector<std::vector<uint8_t>> quantized;   // one buffer per format
    thread_local std::vector<Input> inputs;
    inputs.clear();
    auto input_for = [&](const Weight& w) -> const Input& {
        const GgmlType act = kernels::activation_type(w.type);
        for (const Input& in : inputs)
            if (in.type == act) return in;
        Input in{act, reinterpret_cast<const uint8_t*>(x), row_bytes(act, cols)};
        if (const kernels::QuantizeFn quantize = ks.quantizer(act)) {
            if (quantized.size() <= inputs.size()) quantized.resize(inputs.size() + 1);
            std::vector<uint8_t>& buffer = quantized[inputs.size()];
            buffer.resize(size_t(n) * in.stride);
            uint8_t* q = buffer.data();
            pool.parallel_for(
                n, [&](int, int64_t t0, int64_t t1) {
                    for (int64_t t = t0; t < t1; ++t) quantize(x + t * cols, q + size_t(t) * in.stride, cols);
                },
                8);
            in.data = q;
        }
        inputs.push_back(in);
        return inputs.back();
    };

    // The rows of all the weights, one after the other, in tiles; each thread walks its own
    // contiguous run of tiles and takes over the back half of another's when it runs out
    // (StealingRanges). One dispatch of the pool for all the weights.
    struct Tile {
        size_t weight;
        int64_t r0, r1;
        Input x;
    };
    thread_local std::vector<Tile> tiles;
    tiles.clear();
    for (size_t i = 0; i < ws.size(); ++i) {
        const Input in = input_for(*ws[i]);
        const int64_t rows = ws[i]->rows;
        for (int64_t r0 = 0; r0 < rows; r0 += kRowTile) tiles.push_back({i, r0, std::min(rows, r0 + kRowTile), in});
    }
    // The pool's threads see thread_local objects of their own: hand them this thread's.
    const Tile* list = tiles.data();
    const int threads = int(std::min<int64_t>(pool.size(), int64_t(tiles.size())));
    thread_local StealingRanges split;
    split.reset(int64_t(tiles.size()), threads);
    StealingRanges* ranges = &split;
    pool.parallel_for(
        threads,
        [&](int, int64_t part, int64_t) {
            for (int64_t t = ranges->next(int(part)); t >= 0; t = ranges->next(int(part))) {
                const Tile& k = list[t];
                multiply_rows(*ws[k.weight], k.x.data, k.x.stride, n, k.r0, k.r1, ys[k.weight]);
            }
        },
        1);
}

}  // namespace sluice
