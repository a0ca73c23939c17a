#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/dot.h"
#include "util/half.h"
#include "util/thread_pool.h"

namespace sluice {

namespace {

constexpr int64_t kPrefetchAhead = 16;   // positions

// One value into transposed f32 / f16 V.
void store_value(KvCacheType t, float x, uint8_t* v, int64_t index) {
    if (t == KvCacheType::F16) reinterpret_cast<uint16_t*>(v)[index] = f32_to_f16(x);
    else reinterpret_cast<float*>(v)[index] = x;
}

}  // namespace

// Values per row as the kernels see it: Q8_0 rows are whole blocks.
int64_t padded_dim(KvCacheType t, int64_t head_dim) { return t == KvCacheType::Q8_0 ? (head_dim + 31) / 32 * 32 : head_dim; }

void store_row(KvCacheType t, const float* src, int64_t D, std::vector<float>& pad, uint8_t* dst) {
    switch (t) {
        case KvCacheType::F32: std::memcpy(dst, src, size_t(D) * sizeof(float)); break;
        case KvCacheType::F16: {
            auto* h = reinterpret_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < D; ++i) h[i] = f32_to_f16(src[i]);
            break;
        }
        case KvCacheType::Q8_0:
            std::copy(src, src + D, pad.begin());
            kernels::active_kernels().quantize_q8_0(pad.data(), dst, int64_t(pad.size()));
            break;
    }
}

KvCache::KvCache(KvCacheType type, int64_t capacity, int64_t kv_heads, int64_t head_dim)
    : type(type), capacity(capacity), kv_heads(kv_heads), head_dim(head_dim), row_bytes(kv_row_bytes(type, head_dim)),
      k(size_t(capacity * kv_heads) * row_bytes), v(k.size()) {}

void attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads, KvCache& cache,
               float* out, const float* sinks, int64_t window) {
    const KvCacheType type = cache.type;
    const int64_t kvh = cache.kv_heads, D = cache.head_dim, Dp = padded_dim(type, D), cap = cache.capacity;
    const uint64_t rb = cache.row_bytes;
    const bool quantized = type == KvCacheType::Q8_0;
    {
        std::vector<float> pad(static_cast<size_t>(Dp));
        for (int64_t t = 0; t < n; ++t)
            for (int64_t h = 0; h < kvh; ++h) {
                const size_t at = size_t((pos0 + t) * kvh + h) * rb;
                const float* kr = k + (t * kvh + h) * D;
                const float* vr = v + (t * kvh + h) * D;
                store_row(type, kr, D, pad, cache.k.data() + at);
                if (quantized) store_row(type, vr, D, pad, cache.v.data() + at);
                else
                    for (int64_t d = 0; d < D; ++d) store_value(type, vr[d], cache.v.data(), (h * D + d) * cap + pos0 + t);
            }
    }
    const int64_t group = heads / kvh;
    const float scale = 1.0f / std::sqrt(float(D));
    // q·k through the dot kernel of the cache's type, which takes up to kMaxCols query heads per
    // K row: one job per (token, KV head) reads that head's K and V rows once for the whole group.
    const kernels::KernelSet& ks = kernels::active_kernels();
    const kernels::TypeKernels& kern = ks[kv_cache_ggml_type(type)];
    ThreadPool::global().parallel_for(n * kvh, [&](int, int64_t begin, int64_t end) {
        // Kept per thread across calls: at long contexts a fresh megabyte each layer and step
        // cost more in page faults than the softmax it holds.
        thread_local std::vector<float> scores;
        scores.resize(size_t(group * (pos0 + n)));
        std::vector<float> qpad(quantized ? size_t(Dp) : 0), vsum(quantized ? size_t(group * Dp) : 0);
        std::vector<uint8_t> qq(quantized ? size_t(group) * rb : 0);
        for (int64_t job = begin; job < end; ++job) {
            const int64_t t = job / kvh, kv = job % kvh, len = pos0 + t + 1;
            const int64_t first = window > 0 ? std::max<int64_t>(0, len - window) : 0;   // first visible position
            const float* qg = q + (t * heads + kv * group) * D;
            float* og = out + (t * heads + kv * group) * D;
            // The query heads as the kernel's activations: float rows, or Q8_0 blocks.
            const void* x = qg;
            size_t x_stride = size_t(D) * sizeof(float);
            if (quantized) {
                for (int64_t g = 0; g < group; ++g) {
                    std::copy(qg + g * D, qg + (g + 1) * D, qpad.begin());
                    ks.quantize_q8_0(qpad.data(), qq.data() + size_t(g) * rb, Dp);
                }
                x = qq.data();
                x_stride = rb;
            }
            const uint8_t* x_bytes = static_cast<const uint8_t*>(x);
            for (int64_t p = first; p < len; ++p) {
                const uint8_t* kp = cache.k.data() + size_t(p * kvh + kv) * rb;
                // The rows a head reads are kv_heads rows apart, a stride the hardware
                // prefetcher does not follow at long contexts: ask for one 16 positions ahead.
                if (p + kPrefetchAhead < len)
                    for (uint64_t at = 0; at < rb; at += 64) __builtin_prefetch(kp + kPrefetchAhead * kvh * rb + at);
                for (int64_t g0 = 0; g0 < group; g0 += kernels::kMaxCols) {
                    const int nc = int(std::min<int64_t>(kernels::kMaxCols, group - g0));
                    float s[kernels::kMaxCols];
                    kern.dot(Dp, kp, x_bytes + size_t(g0) * x_stride, x_stride, nc, s);
                    for (int c = 0; c < nc; ++c) scores[size_t((g0 + c) * len + p)] = s[c] * scale;
                }
            }
            for (int64_t g = 0; g < group; ++g) {
                float* sg = scores.data() + g * len;
                const float sink = sinks ? sinks[kv * group + g] : 0.0f;
                float maxs = *std::max_element(sg + first, sg + len);
                if (sinks) maxs = std::max(maxs, sink);
                double sum = sinks ? std::exp(double(sink - maxs)) : 0.0;
                for (int64_t p = first; p < len; ++p) {
                    sg[p] = std::exp(sg[p] - maxs);
                    sum += sg[p];
                }
                const float inv = float(1.0 / sum);
                for (int64_t p = first; p < len; ++p) sg[p] *= inv;
            }
            if (quantized) {
                // The V rows weighted by the scores, summed over padded rows for the whole group
                // (from the window's first position on).
                std::fill(vsum.begin(), vsum.end(), 0.0f);
                ks.weighted_rows_q8_0(Dp, len - first, cache.v.data() + size_t(first * kvh + kv) * rb,
                                      size_t(kvh) * rb, scores.data() + first, size_t(len), int(group), vsum.data(),
                                      size_t(Dp));
                for (int64_t g = 0; g < group; ++g) std::copy_n(vsum.data() + g * Dp, D, og + g * D);
                continue;
            }
            const size_t esize = type == KvCacheType::F16 ? 2 : 4;
            for (int64_t d = 0; d < D; ++d) {
                const uint8_t* vd = cache.v.data() + size_t((kv * D + d) * cap) * esize;
                for (int64_t g0 = 0; g0 < group; g0 += kernels::kMaxCols) {
                    const int nc = int(std::min<int64_t>(kernels::kMaxCols, group - g0));
                    float s[kernels::kMaxCols];
                    kern.dot(len - first, vd + size_t(first) * esize, scores.data() + g0 * len + first,
                             size_t(len) * sizeof(float), nc, s);
                    for (int c = 0; c < nc; ++c) og[(g0 + c) * D + d] = s[c];
                }
            }
        }
    });
}

}  // namespace sluice
