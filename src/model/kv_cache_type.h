// The number format a KV cache stores K and V in (`--cache-type`). Under a memory budget every
// byte of KV cache is a byte the expert cache does not get: f16 halves float32's state, q8_0
// (GGUF's Q8_0 blocks: 32 values, 8 bits each and a half scale) takes 34/128 of it. The formats
// are GGUF's, so attention reads them with the weight dot kernels of src/kernels.
#pragma once
#include <cstdint>
#include <string>

#include "quant/types.h"

namespace sluice {

enum class KvCacheType { F32, F16, Q8_0 };

const char* kv_cache_type_name(KvCacheType t);        // "f32", "f16", "q8_0"
KvCacheType parse_kv_cache_type(const std::string& s);  // fails naming --cache-type
GgmlType kv_cache_ggml_type(KvCacheType t);

// Bytes of one position's K (or V) for one KV head of head_dim values: Q8_0 rows are padded
// with zeros to whole 32-value blocks.
uint64_t kv_row_bytes(KvCacheType t, int64_t head_dim);

// Bytes of one layer's K and V for `capacity` positions.
uint64_t kv_cache_bytes(KvCacheType t, int64_t capacity, int64_t kv_heads, int64_t head_dim);

// Bytes of one multi-head-latent-attention layer's cache (DeepSeek-V3): one row of `width`
// values per position, the compressed latent and the shared RoPE key, which serve as every
// head's key and (the latent) value.
uint64_t latent_cache_bytes(KvCacheType t, int64_t capacity, int64_t width);

}  // namespace sluice
