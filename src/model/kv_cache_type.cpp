#include "model/kv_cache_type.h"

#include "util/error.h"

namespace sluice {

const char* kv_cache_type_name(KvCacheType t) {
    switch (t) {
        case KvCacheType::F32: return "f32";
        case KvCacheType::F16: return "f16";
        case KvCacheType::Q8_0: return "q8_0";
    }
    fail("internal: KV cache type {}", int(t));
}

KvCacheType parse_kv_cache_type(const std::string& s) {
    for (KvCacheType t : {KvCacheType::F32, KvCacheType::F16, KvCacheType::Q8_0})
        if (s == kv_cache_type_name(t)) return t;
    fail("--cache-type: expected f32, f16 or q8_0, got '{}'", s);
}

GgmlType kv_cache_ggml_type(KvCacheType t) {
    switch (t) {
        case KvCacheType::F32: return GgmlType::F32;
        case KvCacheType::F16: return GgmlType::F16;
        case KvCacheType::Q8_0: return GgmlType::Q8_0;
    }
    fail("internal: KV cache type {}", int(t));
}

uint64_t kv_row_bytes(KvCacheType t, int64_t head_dim) {
    if (t == KvCacheType::Q8_0) return uint64_t((head_dim + 31) / 32) * row_bytes(GgmlType::Q8_0, 32);
    return row_bytes(kv_cache_ggml_type(t), head_dim);
}

uint64_t latent_cache_bytes(KvCacheType t, int64_t capacity, int64_t width) {
    return uint64_t(capacity) * kv_row_bytes(t, width);
}

uint64_t kv_cache_bytes(KvCacheType t, int64_t capacity, int64_t kv_heads, int64_t head_dim) {
    return 2 * uint64_t(capacity) * uint64_t(kv_heads) * kv_row_bytes(t, head_dim);
}

}  // namespace sluice
