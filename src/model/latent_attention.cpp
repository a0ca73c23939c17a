#include "model/latent_attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/dot.h"
#include "model/attention.h"
#include "util/thread_pool.h"

namespace sluice {

LatentCache::LatentCache(KvCacheType type, int64_t capacity, int64_t latent, int64_t rope)
    : type(type), capacity(capacity), latent(latent), rope(rope), row_bytes(kv_row_bytes(type, latent + rope)),
      rows(size_t(capacity) * row_bytes) {}

void latent_attention(const float* q_latent, const float* q_rope, const float* latent, const float* k_rope, int64_t n,
                      int64_t pos0, int64_t heads, float scale, LatentCache& cache, float* out) {
    const KvCacheType type = cache.type;
    const int64_t L = cache.latent, R = cache.rope, W = L + R, Wp = padded_dim(type, W);
    const uint64_t rb = cache.row_bytes;
    const bool quantized = type == KvCacheType::Q8_0;
    {
        std::vector<float> row(static_cast<size_t>(W)), pad(static_cast<size_t>(Wp));
        for (int64_t t = 0; t < n; ++t) {
            std::copy_n(latent + t * L, L, row.begin());
            std::copy_n(k_rope + t * R, R, row.begin() + L);
            store_row(type, row.data(), W, pad, cache.rows.data() + size_t(pos0 + t) * rb);
        }
    }
    // Every head reads the same rows: one job per (token, kMaxCols heads) reads each row once
    // for its heads, through the dot kernel of the cache's type (queries quantised for Q8_0).
    const kernels::KernelSet& ks = kernels::active_kernels();
    const kernels::TypeKernels& kern = ks[kv_cache_ggml_type(type)];
    const int64_t chunks = (heads + kernels::kMaxCols - 1) / kernels::kMaxCols;
    ThreadPool::global().parallel_for(n * chunks, [&](int, int64_t begin, int64_t end) {
        const size_t q_stride = quantized ? size_t(rb) : size_t(Wp) * sizeof(float);
        std::vector<float> qf(static_cast<size_t>(kernels::kMaxCols * Wp), 0.0f), row(static_cast<size_t>(Wp));
        std::vector<uint8_t> qq(quantized ? size_t(kernels::kMaxCols) * rb : 0);
        std::vector<float> scores(size_t(kernels::kMaxCols * (pos0 + n)));
        for (int64_t job = begin; job < end; ++job) {
            const int64_t t = job / chunks, h0 = (job % chunks) * kernels::kMaxCols, len = pos0 + t + 1;
            const int nc = int(std::min<int64_t>(kernels::kMaxCols, heads - h0));
            for (int c = 0; c < nc; ++c) {
                float* q = qf.data() + c * Wp;
                std::copy_n(q_latent + (t * heads + h0 + c) * L, L, q);
                std::copy_n(q_rope + (t * heads + h0 + c) * R, R, q + L);
                if (quantized) ks.quantize_q8_0(q, qq.data() + size_t(c) * rb, Wp);
            }
            const void* x = quantized ? static_cast<const void*>(qq.data()) : qf.data();
            for (int64_t p = 0; p < len; ++p) {
                float s[kernels::kMaxCols];
                kern.dot(Wp, cache.rows.data() + size_t(p) * rb, x, q_stride, nc, s);
                for (int c = 0; c < nc; ++c) scores[size_t(c * len + p)] = s[c] * scale;
            }
            for (int c = 0; c < nc; ++c) {
                float* sc = scores.data() + c * len;
                const float maxs = *std::max_element(sc, sc + len);
                double sum = 0;
                for (int64_t p = 0; p < len; ++p) sum += sc[p] = std::exp(sc[p] - maxs);
                const float inv = float(1.0 / sum);
                for (int64_t p = 0; p < len; ++p) sc[p] *= inv;
                std::fill_n(out + (t * heads + h0 + c) * L, L, 0.0f);
            }
            // The values are the cached latents: each row dequantised once for the heads.
            for (int64_t p = 0; p < len; ++p) {
                kern.dequantize(cache.rows.data() + size_t(p) * rb, row.data(), Wp);
                for (int c = 0; c < nc; ++c) {
                    const float w = scores[size_t(c * len + p)];
                    float* o = out + (t * heads + h0 + c) * L;
                    for (int64_t d = 0; d < L; ++d) o[d] += w * row[size_t(d)];
                }
            }
        }
    });
}

}  // namespace sluice
