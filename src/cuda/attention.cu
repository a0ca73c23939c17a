// GQA causal attention over the float32 KV cache. One thread block per (token, query head)
// walks the positions in tiles of kTile: warps compute the tile's scores (lanes along head_dim,
// coalesced over the K row), then each thread updates its output dims with the softmax's
// running maximum and sum (flash-attention's online form, numerically stable).
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

namespace {

constexpr int kThreads = 128;  // each thread owns head dims tid and tid + 128
constexpr int kTile = 64;
static_assert(2 * kThreads >= kMaxHeadDim);

// v transposed: value (position p, row i = kv·D + d) at v[i·capacity + p].
__global__ void kv_store_v_kernel(const float* v, int64_t n, int64_t row, int64_t pos0, int64_t capacity,
                                  float* cache_v) {
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * row) return;
    const int64_t t = idx / row, i = idx % row;
    cache_v[i * capacity + pos0 + t] = v[idx];
}

__global__ void attention_kernel(const float* q, const float* cache_k, const float* cache_v, int64_t capacity,
                                 int kv_heads, int head_dim, int heads, int64_t pos0, float scale, float* out) {
    __shared__ float qs[kMaxHeadDim];
    __shared__ float p[kTile];
    const int h = blockIdx.y, tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int64_t t = blockIdx.x;
    const int kv = h / (heads / kv_heads);
    const int64_t len = pos0 + t + 1, krow = int64_t(kv_heads) * head_dim;
    const float* qh = q + (t * heads + h) * head_dim;
    for (int d = tid; d < head_dim; d += kThreads) qs[d] = qh[d];
    const float* vrows[2] = {cache_v + (int64_t(kv) * head_dim + tid) * capacity,
                             cache_v + (int64_t(kv) * head_dim + tid + kThreads) * capacity};
    float acc[2] = {0.0f, 0.0f};
    float m = -INFINITY, l = 0.0f;
    __syncthreads();
    for (int64_t p0 = 0; p0 < len; p0 += kTile) {
        const int tile = int(min(int64_t(kTile), len - p0));
        for (int j = warp; j < tile; j += kThreads / kWarp) {
            const float* kp = cache_k + (p0 + j) * krow + int64_t(kv) * head_dim;
            float s = 0.0f;
            for (int d = lane; d < head_dim; d += kWarp) s += qs[d] * kp[d];
            s = warp_sum(s);
            if (lane == 0) p[j] = s * scale;
        }
        __syncthreads();
        // Every thread reads the tile's scores in the same order, so m and l agree everywhere.
        float tile_max = -INFINITY;
        for (int j = 0; j < tile; ++j) tile_max = fmaxf(tile_max, p[j]);
        const float m_new = fmaxf(m, tile_max);
        const float rescale = expf(m - m_new);  // 0 on the first tile (m = −inf)
        __syncthreads();
        for (int j = tid; j < tile; j += kThreads) p[j] = expf(p[j] - m_new);
        __syncthreads();
        float tile_sum = 0.0f;
        for (int j = 0; j < tile; ++j) tile_sum += p[j];
        l = l * rescale + tile_sum;
        for (int c = 0; c < 2; ++c) {
            if (tid + c * kThreads >= head_dim) continue;
            float a = acc[c] * rescale;
            const float* vr = vrows[c] + p0;
            for (int j = 0; j < tile; ++j) a += p[j] * vr[j];
            acc[c] = a;
        }
        m = m_new;
        __syncthreads();  // p is rewritten by the next tile
    }
    float* oh = out + (t * heads + h) * head_dim;
    for (int c = 0; c < 2; ++c)
        if (tid + c * kThreads < head_dim) oh[tid + c * kThreads] = acc[c] / l;
}

}  // namespace

void attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
               const KvCacheView& cache, float* out, cudaStream_t stream) {
    check_non_negative("attention", "n", n);
    check_non_negative("attention", "pos0", pos0);
    check_positive("attention", "kv_heads", cache.kv_heads);
    if (cache.head_dim <= 0 || cache.head_dim > kMaxHeadDim)
        throw_error("attention: head_dim " + std::to_string(cache.head_dim) + " (1.." + std::to_string(kMaxHeadDim) +
                    ")");
    if (heads <= 0 || heads % cache.kv_heads != 0)
        throw_error("attention: " + std::to_string(heads) + " query heads are not a multiple of " +
                    std::to_string(cache.kv_heads) + " KV heads");
    if (pos0 + n > cache.capacity)
        throw_error("attention: positions up to " + std::to_string(pos0 + n) + " exceed the KV cache's capacity " +
                    std::to_string(cache.capacity));
    if (n == 0) return;
    const int64_t row = cache.kv_heads * cache.head_dim;
    SLUICE_CUDA_CHECK(cudaMemcpyAsync(cache.k + pos0 * row, k, size_t(n * row) * sizeof(float),
                                      cudaMemcpyDeviceToDevice, stream));
    kv_store_v_kernel<<<element_blocks(n * row), kElementThreads, 0, stream>>>(v, n, row, pos0, cache.capacity,
                                                                               cache.v);
    SLUICE_CUDA_CHECK_LAUNCH("kv_store_v_kernel");
    const dim3 grid{unsigned(n), unsigned(heads)};
    attention_kernel<<<grid, kThreads, 0, stream>>>(q, cache.k, cache.v, cache.capacity, int(cache.kv_heads),
                                                    int(cache.head_dim), int(heads), pos0,
                                                    1.0f / std::sqrt(float(cache.head_dim)), out);
    SLUICE_CUDA_CHECK_LAUNCH("attention_kernel");
}

}  // namespace sluice::cuda
