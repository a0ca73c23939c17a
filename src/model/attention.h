// Causal GQA attention over a per-sequence KV cache stored as float32, f16 or Q8_0.
#pragma once
#include <cstdint>
#include <vector>

#include "model/kv_cache_type.h"

namespace sluice {

// The K and V of one attention layer for one sequence, in `type`:
// - k [capacity, kv_heads, row], a row being head_dim values (Q8_0: padded with zeros to whole
//   blocks), so q·k is a dot product along memory with the weight kernels;
// - f32 and f16 v transposed, [kv_heads, head_dim, capacity], so the weighted sum of values is a
//   dot product along positions too; Q8_0 v as k, [capacity, kv_heads, row]: a block along
//   positions would be requantised as each token arrives, and scores would be quantised to
//   8 bits against a block's largest (llama.cpp too dequantises V rows and accumulates them).
struct KvCache {
    KvCacheType type = KvCacheType::F32;
    int64_t capacity = 0, kv_heads = 0, head_dim = 0;
    uint64_t row_bytes = 0;   // one position's K of one head
    std::vector<uint8_t> k, v;
    KvCache(KvCacheType type, int64_t capacity, int64_t kv_heads, int64_t head_dim);
    uint64_t bytes() const { return k.size() + v.size(); }
};

// Values per cache row as the kernels see it: Q8_0 rows are whole 32-value blocks.
int64_t padded_dim(KvCacheType t, int64_t head_dim);

// One row of D floats into a cache row of type t; `pad` is a float row of padded_dim(t, D)
// values whose tail past D stays zero.
void store_row(KvCacheType t, const float* src, int64_t D, std::vector<float>& pad, uint8_t* dst);

// Stores k, v [n, kv_heads, head_dim] at positions pos0.. and computes causal GQA attention of
// q [n, heads, head_dim] over positions 0..pos0+t, scale 1/sqrt(head_dim). out: [n, heads, head_dim].
// With a Q8_0 cache q is quantised to Q8_0 blocks too, as llama.cpp does for its dot product.
// gpt-oss's variants: `window` > 0 limits each query to the last `window` positions (its own
// included); `sinks` (one logit per head, or null) joins each head's softmax as a position
// without a value, taking its share of the weight.
void attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads, KvCache& cache,
               float* out, const float* sinks = nullptr, int64_t window = 0);

}  // namespace sluice
