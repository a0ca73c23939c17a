// NeoX rotary embedding: one thread per (token, pair index i, head) computes the angle in double
// (positions reach 10^5, where a float angle loses the fine phase) and rotates that pair. The
// angle is recomputed per head: a decode step's 64 pairs would otherwise leave one block walking
// every head in turn (10 µs a call on the H200, about a tenth of a 30B token). rope_neox_store_kv
// does q's and k's rotations and the KV cache store in one launch (f32 and f16 caches; a Q8_0
// block needs 32 rotated values of different threads, so Q8_0 is stored by a second launch);
// rms_norm_rope_neox_store_kv also does q's and k's per-head RMSNorm (Qwen3) before them, a block
// per head so that the norm's sum is rms_norm's.
#include <type_traits>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/q8_arith.h"
#include "cuda/row_norm.cuh"

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

// Block (t, y) of row_threads(head_dim) threads: y < heads is q head y of token t, else k head
// j = y − heads. rms_norm_kernel's norm of the head (the same threads and sums), a barrier (a
// pair spans threads), rope_neox_kernel's rotation, and for k in an f32 or f16 cache a barrier and
// the stores of rope_neox_store_kernel: the head's K row and its V values.
template <KvCacheType T>
__global__ void norm_rope_store_kernel(float* q, float* k, const float* v, int64_t heads, int64_t kv_heads,
                                       int64_t head_dim, const float* q_norm, const float* k_norm, float eps,
                                       int64_t rot_dim, int64_t pos0, double theta, void* cache_k, void* cache_v,
                                       int64_t capacity) {
    const int64_t t = blockIdx.x, y = blockIdx.y, j = y - heads, half = rot_dim / 2;
    const bool is_q = y < heads;
    float* x = is_q ? q + (t * heads + y) * head_dim : k + (t * kv_heads + j) * head_dim;
    scale_row(x, is_q ? q_norm : k_norm, rms_inverse(x, head_dim, eps), x, head_dim);
    __syncthreads();
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) rotate_pair(x, i, half, rot_dim, pos0 + t, theta);
    if (is_q || T == KvCacheType::Q8_0) return;  // the same for the whole block
    __syncthreads();
    const int64_t ck = ((pos0 + t) * kv_heads + j) * head_dim;
    for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
        store_value<T>(cache_k, ck + d, x[d]);
        store_value<T>(cache_v, (j * head_dim + d) * capacity + pos0 + t, v[(t * kv_heads + j) * head_dim + d]);
    }
}

// The checks of both rope_neox_store_kv launchers.
void check_rope_store(const char* op, int64_t n, int64_t heads, const KvCacheView& cache, int64_t rot_dim,
                      int64_t pos0) {
    check_non_negative(op, "n", n);
    check_non_negative(op, "pos0", pos0);
    check_positive(op, "kv_heads", cache.kv_heads);
    const std::string name = op;
    if (heads <= 0 || heads % cache.kv_heads != 0)
        throw_error(name + ": " + std::to_string(heads) + " query heads are not a multiple of " +
                    std::to_string(cache.kv_heads) + " KV heads");
    if (heads + cache.kv_heads > 65535)
        throw_error(name + ": " + std::to_string(heads + cache.kv_heads) + " heads (1..65535, a grid dimension)");
    if (rot_dim <= 0 || rot_dim % 2 != 0 || rot_dim > cache.head_dim)
        throw_error(name + ": rot_dim " + std::to_string(rot_dim) + " must be even and in 2.." +
                    std::to_string(cache.head_dim));
    if (pos0 + n > cache.capacity)
        throw_error(name + ": positions up to " + std::to_string(pos0 + n) + " exceed the KV cache's capacity " +
                    std::to_string(cache.capacity));
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
    check_rope_store("rope_neox_store_kv", n, heads, cache, rot_dim, pos0);
    if (n == 0) return;
    const dim3 grid(element_blocks(n * cache.head_dim), unsigned(heads + cache.kv_heads));
    dispatch_cache_type(cache.type, "rope_neox_store_kv", [&](auto type_tag) {
        rope_neox_store_kernel<decltype(type_tag)::value><<<grid, kElementThreads, 0, stream>>>(
            q, k, v, n, heads, cache.kv_heads, cache.head_dim, rot_dim, pos0, double(theta), cache.k, cache.v,
            cache.capacity);
    });
    SLUICE_CUDA_CHECK_LAUNCH("rope_neox_store_kernel");
    if (cache.type == KvCacheType::Q8_0) store_kv(k, v, n, pos0, cache, stream);
}

void rms_norm_rope_neox_store_kv(float* q, float* k, const float* v, int64_t n, int64_t heads,
                                 const KvCacheView& cache, const float* q_norm, const float* k_norm, float eps,
                                 int64_t rot_dim, int64_t pos0, float theta, cudaStream_t stream) {
    check_rope_store("rms_norm_rope_neox_store_kv", n, heads, cache, rot_dim, pos0);
    if (!q_norm || !k_norm) throw_error("rms_norm_rope_neox_store_kv: q_norm or k_norm is null");
    if (n == 0) return;
    const dim3 grid(unsigned(n), unsigned(heads + cache.kv_heads));
    dispatch_cache_type(cache.type, "rms_norm_rope_neox_store_kv", [&](auto type_tag) {
        norm_rope_store_kernel<decltype(type_tag)::value><<<grid, row_threads(cache.head_dim), 0, stream>>>(
            q, k, v, heads, cache.kv_heads, cache.head_dim, q_norm, k_norm, eps, rot_dim, pos0, double(theta), cache.k,
            cache.v, cache.capacity);
    });
    SLUICE_CUDA_CHECK_LAUNCH("norm_rope_store_kernel");
    if (cache.type == KvCacheType::Q8_0) store_kv(k, v, n, pos0, cache, stream);
}

}  // namespace sluice::cuda
