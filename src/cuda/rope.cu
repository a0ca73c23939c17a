// NeoX rotary embedding: one thread per (token, pair index i, head) computes the angle in double
// (positions reach 10^5, where a float angle loses the fine phase) and rotates that pair. The
// angle is recomputed per head: a decode step's 64 pairs would otherwise leave one block walking
// every head in turn (10 µs a call on the H200, about a tenth of a 30B token). rope_neox_store_kv
// does q's and k's rotations and the KV cache store in one launch (f32 and f16 caches; a Q8_0
// block needs 32 rotated values of different threads, so Q8_0 is stored by a second launch).
#include <type_traits>

#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/q8_arith.h"

namespace sluice::cuda {

namespace {

// Pair i of the head at v (token at position pos): the rotation of rope_neox_kernel.
__device__ inline void rotate_pair(float* v, int64_t i, int64_t half, int64_t rot_dim, int64_t pos, double theta) {
    const double angle = double(pos) * pow(theta, -2.0 * double(i) / double(rot_dim));
    double s, c;
    sincos(angle, &s, &c);
    const double a = v[i], b = v[i + half];
    v[i] = float(a * c - b * s);
    v[i + half] = float(b * c + a * s);
}

__global__ void rope_neox_kernel(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim, int64_t pos0,
                                 double theta) {
    const int64_t half = rot_dim / 2;
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * half) return;
    const int64_t t = idx / half, i = idx % half, h = blockIdx.y;
    rotate_pair(x + (t * heads + h) * head_dim, i, half, rot_dim, pos0 + t, theta);
}

// One value of an f32 or f16 cache.
template <KvCacheType T>
__device__ inline void store_value(void* cache, int64_t index, float x) {
    if constexpr (T == KvCacheType::F32) static_cast<float*>(cache)[index] = x;
    else static_cast<uint16_t*>(cache)[index] = q8::float_to_half(x);
}

// Thread (t, d) of grid row y: y < heads rotates q head y's pair d (d < rot_dim / 2); y = heads + j
// rotates k head j's pair d likewise, then (f32, f16) stores k head j's dims d (and, for d <
// rot_dim / 2, d + rot_dim / 2) in the K cache row and v head j's dim d in the transposed V cache.
// A thread stores only values it rotated itself or that no thread rotates, so no barrier is
// needed. A Q8_0 cache: rotations only (k rotated in place, stored afterwards by store_kv).
template <KvCacheType T>
__global__ void rope_neox_store_kernel(float* q, float* k, const float* v, int64_t n, int64_t heads, int64_t kv_heads,
                                       int64_t head_dim, int64_t rot_dim, int64_t pos0, double theta, void* cache_k,
                                       void* cache_v, int64_t capacity) {
    const int64_t half = rot_dim / 2;
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * head_dim) return;
    const int64_t t = idx / head_dim, d = idx % head_dim, y = blockIdx.y;
    if (y < heads) {
        if (d < half) rotate_pair(q + (t * heads + y) * head_dim, d, half, rot_dim, pos0 + t, theta);
        return;
    }
    const int64_t j = y - heads, row = kv_heads * head_dim;
    float* kh = k + (t * kv_heads + j) * head_dim;
    if constexpr (T == KvCacheType::Q8_0) {
        if (d < half) rotate_pair(kh, d, half, rot_dim, pos0 + t, theta);
    } else {
        const int64_t ck = (pos0 + t) * row + j * head_dim;  // the K cache row
        if (d < half) {
            rotate_pair(kh, d, half, rot_dim, pos0 + t, theta);
            store_value<T>(cache_k, ck + d, kh[d]);
            store_value<T>(cache_k, ck + d + half, kh[d + half]);
        } else if (d >= rot_dim) {
            store_value<T>(cache_k, ck + d, kh[d]);
        }
        store_value<T>(cache_v, (j * head_dim + d) * capacity + pos0 + t, v[(t * kv_heads + j) * head_dim + d]);
    }
}

}  // namespace

void rope_neox(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim, int64_t pos0, float theta,
               cudaStream_t stream) {
    check_non_negative("rope_neox", "n", n);
    check_positive("rope_neox", "heads", heads);
    if (heads > 65535) throw_error("rope_neox: " + std::to_string(heads) + " heads (1..65535, a grid dimension)");
    check_non_negative("rope_neox", "pos0", pos0);
    if (rot_dim <= 0 || rot_dim % 2 != 0 || rot_dim > head_dim)
        throw_error("rope_neox: rot_dim " + std::to_string(rot_dim) + " must be even and in 2.." +
                    std::to_string(head_dim));
    if (n == 0) return;
    const dim3 grid(element_blocks(n * rot_dim / 2), unsigned(heads));
    rope_neox_kernel<<<grid, kElementThreads, 0, stream>>>(x, n, heads, head_dim, rot_dim, pos0, double(theta));
    SLUICE_CUDA_CHECK_LAUNCH("rope_neox_kernel");
}

void rope_neox_store_kv(float* q, float* k, const float* v, int64_t n, int64_t heads, const KvCacheView& cache,
                        int64_t rot_dim, int64_t pos0, float theta, cudaStream_t stream) {
    check_non_negative("rope_neox_store_kv", "n", n);
    check_non_negative("rope_neox_store_kv", "pos0", pos0);
    check_positive("rope_neox_store_kv", "kv_heads", cache.kv_heads);
    if (heads <= 0 || heads % cache.kv_heads != 0)
        throw_error("rope_neox_store_kv: " + std::to_string(heads) + " query heads are not a multiple of " +
                    std::to_string(cache.kv_heads) + " KV heads");
    if (heads + cache.kv_heads > 65535)
        throw_error("rope_neox_store_kv: " + std::to_string(heads + cache.kv_heads) + " heads (1..65535, a grid dimension)");
    if (rot_dim <= 0 || rot_dim % 2 != 0 || rot_dim > cache.head_dim)
        throw_error("rope_neox_store_kv: rot_dim " + std::to_string(rot_dim) + " must be even and in 2.." +
                    std::to_string(cache.head_dim));
    if (pos0 + n > cache.capacity)
        throw_error("rope_neox_store_kv: positions up to " + std::to_string(pos0 + n) + " exceed the KV cache's capacity " +
                    std::to_string(cache.capacity));
    if (n == 0) return;
    const dim3 grid(element_blocks(n * cache.head_dim), unsigned(heads + cache.kv_heads));
    auto launch = [&](auto type_tag) {
        rope_neox_store_kernel<decltype(type_tag)::value><<<grid, kElementThreads, 0, stream>>>(
            q, k, v, n, heads, cache.kv_heads, cache.head_dim, rot_dim, pos0, double(theta), cache.k, cache.v,
            cache.capacity);
    };
    switch (cache.type) {
        case KvCacheType::F32: launch(std::integral_constant<KvCacheType, KvCacheType::F32>{}); break;
        case KvCacheType::F16: launch(std::integral_constant<KvCacheType, KvCacheType::F16>{}); break;
        case KvCacheType::Q8_0: launch(std::integral_constant<KvCacheType, KvCacheType::Q8_0>{}); break;
        default: throw_error("rope_neox_store_kv: unknown KV cache type " + std::to_string(int(cache.type)));
    }
    SLUICE_CUDA_CHECK_LAUNCH("rope_neox_store_kernel");
    if (cache.type == KvCacheType::Q8_0) store_kv(k, v, n, pos0, cache, stream);
}

}  // namespace sluice::cuda
