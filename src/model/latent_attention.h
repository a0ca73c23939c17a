// Multi-head latent attention over the compressed cache (DeepSeek-V3, model-spec: MLA), in the
// absorbed form llama.cpp uses: every head attends to the same cached rows [latent (L), rope key
// (R)] with its query [q_nope·W_kᵀ (L), q_rope (R)], and its output is the weighted sum of the
// latents, which W_v later expands per head. The cache is L + R values per token and layer —
// 576 for DeepSeek-V3 against 2·128·192 = 49152 for the same heads uncompressed.
#pragma once
#include <cstdint>
#include <vector>

#include "model/kv_cache_type.h"

namespace sluice {

struct LatentCache {
    KvCacheType type = KvCacheType::F32;
    int64_t capacity = 0, latent = 0, rope = 0;
    uint64_t row_bytes = 0;
    std::vector<uint8_t> rows;   // [capacity] rows of latent + rope values in `type`
    LatentCache(KvCacheType type, int64_t capacity, int64_t latent, int64_t rope);
    uint64_t bytes() const { return rows.size(); }
};

// Stores latent [n, L] and k_rope [n, R] at positions pos0.. and writes, for each of `heads`
// heads, softmax(scale · (q_latent·latentᵀ + q_rope·k_ropeᵀ)) · latent over positions
// 0..pos0+t to out [n, heads · L]. q_latent [n, heads · L], q_rope [n, heads · R].
void latent_attention(const float* q_latent, const float* q_rope, const float* latent, const float* k_rope, int64_t n,
                      int64_t pos0, int64_t heads, float scale, LatentCache& cache, float* out);

}  // namespace sluice
