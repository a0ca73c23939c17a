// The KV cache store: new positions' K and V written in the cache's type, the bytes the CPU's
// KvCache holds for the same values (model/attention.cpp). f32: K rows copied, V transposed;
// f16: one thread per value, rounded to nearest even; Q8_0: one thread per (token, KV head,
// block), which quantises its K block and its V block (32 values, zero past head_dim).
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/q8_arith.h"

namespace sluice::cuda {

namespace {

// v transposed: value (position p, row i = kv·D + d) at v[i·capacity + p].
__global__ void kv_store_v_kernel(const float* v, int64_t n, int64_t row, int64_t pos0, int64_t capacity,
                                  float* cache_v) {
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * row) return;
    const int64_t t = idx / row, i = idx % row;
    cache_v[i * capacity + pos0 + t] = v[idx];
}

__global__ void kv_store_f16_kernel(const float* k, const float* v, int64_t n, int64_t row, int64_t pos0,
                                    int64_t capacity, uint16_t* cache_k, uint16_t* cache_v) {
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * row) return;
    const int64_t t = idx / row, i = idx % row;
    cache_k[(pos0 + t) * row + i] = q8::float_to_half(k[idx]);
    cache_v[i * capacity + pos0 + t] = q8::float_to_half(v[idx]);
}

// One head's 32 values from block b of its row (src: the head's head_dim values), zeros past.
__device__ inline void load_block(const float* src, int head_dim, int b, float (&x)[32]) {
    for (int j = 0; j < 32; ++j) x[j] = 32 * b + j < head_dim ? src[32 * b + j] : 0.0f;
}

__global__ void kv_store_q8_0_kernel(const float* k, const float* v, int64_t n, int kv_heads, int head_dim,
                                     int64_t pos0, BlockQ8_0* cache_k, BlockQ8_0* cache_v) {
    const int blocks = (head_dim + 31) / 32;
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * kv_heads * blocks) return;
    const int64_t head_row = idx / blocks;  // t·kv_heads + head
    const int b = int(idx % blocks);
    const int64_t t = head_row / kv_heads, h = head_row % kv_heads;
    const int64_t at = ((pos0 + t) * kv_heads + h) * blocks + b;
    float x[32];
    BlockQ8_0 q;
    load_block(k + head_row * head_dim, head_dim, b, x);
    q8::quantize_kv_block_q8_0(x, q);
    cache_k[at] = q;
    load_block(v + head_row * head_dim, head_dim, b, x);
    q8::quantize_kv_block_q8_0(x, q);
    cache_v[at] = q;
}

}  // namespace

size_t kv_cache_side_bytes(KvCacheType type, int64_t capacity, int64_t kv_heads, int64_t head_dim) {
    const size_t values = size_t(capacity * kv_heads);
    switch (type) {
        case KvCacheType::F32: return values * size_t(head_dim) * sizeof(float);
        case KvCacheType::F16: return values * size_t(head_dim) * sizeof(uint16_t);
        case KvCacheType::Q8_0: return values * size_t((head_dim + 31) / 32) * sizeof(BlockQ8_0);
    }
    throw_error("kv_cache_side_bytes: unknown KV cache type " + std::to_string(int(type)));
}

void store_kv(const float* k, const float* v, int64_t n, int64_t pos0, const KvCacheView& cache, cudaStream_t stream) {
    check_non_negative("store_kv", "n", n);
    check_non_negative("store_kv", "pos0", pos0);
    check_positive("store_kv", "kv_heads", cache.kv_heads);
    check_positive("store_kv", "head_dim", cache.head_dim);
    if (pos0 + n > cache.capacity)
        throw_error("store_kv: positions up to " + std::to_string(pos0 + n) + " exceed the KV cache's capacity " +
                    std::to_string(cache.capacity));
    if (n == 0) return;
    if (!k || !v) throw_error("store_kv: k or v is null");
    const int64_t row = cache.kv_heads * cache.head_dim;
    switch (cache.type) {
        case KvCacheType::F32:
            SLUICE_CUDA_CHECK(cudaMemcpyAsync(static_cast<float*>(cache.k) + pos0 * row, k, size_t(n * row) * sizeof(float),
                                              cudaMemcpyDeviceToDevice, stream));
            kv_store_v_kernel<<<element_blocks(n * row), kElementThreads, 0, stream>>>(
                v, n, row, pos0, cache.capacity, static_cast<float*>(cache.v));
            SLUICE_CUDA_CHECK_LAUNCH("kv_store_v_kernel");
            return;
        case KvCacheType::F16:
            kv_store_f16_kernel<<<element_blocks(n * row), kElementThreads, 0, stream>>>(
                k, v, n, row, pos0, cache.capacity, static_cast<uint16_t*>(cache.k), static_cast<uint16_t*>(cache.v));
            SLUICE_CUDA_CHECK_LAUNCH("kv_store_f16_kernel");
            return;
        case KvCacheType::Q8_0:
            kv_store_q8_0_kernel<<<element_blocks(n * cache.kv_heads * ((cache.head_dim + 31) / 32)), kElementThreads, 0,
                                   stream>>>(k, v, n, int(cache.kv_heads), int(cache.head_dim), pos0,
                                             static_cast<BlockQ8_0*>(cache.k), static_cast<BlockQ8_0*>(cache.v));
            SLUICE_CUDA_CHECK_LAUNCH("kv_store_q8_0_kernel");
            return;
    }
    throw_error("store_kv: unknown KV cache type " + std::to_string(int(cache.type)));
}

}  // namespace sluice::cuda
