// Weight matrices in any supported block type, multiplied by float32 activations.
// These are the hot loops of decode (matvec) and prefill (matmul). The dot products come from
// the kernel table of kernels/dot.h (AVX-512, AVX2 or portable, picked at run time); the pool's
// threads take the rows in chunks.
#pragma once
#include <cstdint>

#include "quant/types.h"
#include "util/thread_pool.h"

namespace sluice {

// A row-major matrix [rows, cols] whose rows are each a run of `type` blocks.
struct Weight {
    GgmlType type = GgmlType::F32;
    const void* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;

    size_t row_stride() const { return row_bytes(type, cols); }
    const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + size_t(r) * row_stride(); }
    size_t bytes() const { return size_t(rows) * row_stride(); }
};

// y[rows] = W · x[cols]. Quantised types first quantise x to 8 bits (see kernels/dot.h).
void matvec(const Weight& w, const float* x, float* y, ThreadPool& pool = ThreadPool::global());

// Y[n, rows] = X[n, cols] · Wᵀ
void matmul(const Weight& w, const float* x, int64_t n, float* y, ThreadPool& pool = ThreadPool::global());

// Copies row r of W into dst[cols] as float32 (embedding lookup).
void dequantize_row(const Weight& w, int64_t r, float* dst);

}  // namespace sluice
