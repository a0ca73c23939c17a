#include "kernels/matmul.h"

#include <vector>

namespace sluice {

namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; ++i) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

// Rows per task: enough work per task to amortise the dispatch.
int64_t row_grain(const Weight& w) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, w.cols)); }

}  // namespace

void dequantize_row(const Weight& w, int64_t r, float* dst) { dequantize_row_ref(w.type, w.row(r), dst, w.cols); }

void matvec(const Weight& w, const float* x, float* y, ThreadPool& pool) { matmul(w, x, 1, y, pool); }

void matmul(const Weight& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
    pool.parallel_for(
        w.rows,
        [&](int, int64_t r0, int64_t r1) {
            thread_local std::vector<float> buf;
            buf.resize(size_t(w.cols));
            for (int64_t r = r0; r < r1; ++r) {
                const float* wr;
                if (w.type == GgmlType::F32) {
                    wr = reinterpret_cast<const float*>(w.row(r));
                } else {
                    dequantize_row_ref(w.type, w.row(r), buf.data(), w.cols);
                    wr = buf.data();
                }
                for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = dot_f32(wr, x + t * w.cols, w.cols);
            }
        },
        row_grain(w));
}

}  // namespace sluice
