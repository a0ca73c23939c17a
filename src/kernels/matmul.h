// Weight matrices in any supported block type, multiplied by float32 activations.
// These are the hot loops of decode (matvec) and prefill (matmul). The dot products come from
// the kernel table of kernels/dot.h (AVX-512, AVX2 or portable, picked at run time); the pool's
// threads take the rows in chunks.
#pragma once
#include <cstdint>
#include <span>

#include "quant/types.h"
#include "util/thread_pool.h"

namespace sluice {

// How a weight's bytes are ordered: row after row as in the model files, or (Q4_K and Q6_K)
// groups of eight rows interleaved for decode (kernels/repack.h); both take the same bytes, and
// a group of rows occupies the bytes those rows would.
enum class Layout : uint8_t { Rows, Interleaved8 };

// A matrix [rows, cols] whose rows are each a run of `type` blocks.
struct Weight {
    GgmlType type = GgmlType::F32;
    const void* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    Layout layout = Layout::Rows;

    size_t row_stride() const { return row_bytes(type, cols); }
    // Row r, or with Layout::Interleaved8 where row r starts its group's bytes or follows the groups.
    const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + size_t(r) * row_stride(); }
    size_t bytes() const { return size_t(rows) * row_stride(); }
};

// y[rows] = W · x[cols]. Quantised types first quantise x to 8 bits (see kernels/dot.h).
void matvec(const Weight& w, const float* x, float* y, ThreadPool& pool = ThreadPool::global());

// Y[n, rows] = X[n, cols] · Wᵀ
void matmul(const Weight& w, const float* x, int64_t n, float* y, ThreadPool& pool = ThreadPool::global());

// Y_i[n, rows_i] = X[n, cols] · W_iᵀ for weights that take the same input (the same cols; fails
// otherwise), e.g. attention's q, k and v: X quantised once per activation format they need, and
// one dispatch of the pool for all of them.
void matmul_shared_input(std::span<const Weight* const> ws, const float* x, int64_t n, std::span<float* const> ys,
                         ThreadPool& pool = ThreadPool::global());

// Copies row r of W into dst[cols] as float32 (embedding lookup).
void dequantize_row(const Weight& w, int64_t r, float* dst);

}  // namespace sluice
