// GQA causal attention over the float32 KV cache, two kernels:
// - many tokens (prefill): a block per (token, query head) walks the positions in tiles of 64:
//   warps compute the tile's scores (lanes along head_dim, coalesced over the K row), then each
//   thread updates its output dims from the transposed V rows;
// - few tokens (decode): the positions are split over several blocks (flash-decoding), each
//   warp takes tiles of 32 positions (a lane per position for the scores, a lane per head dim for
//   the values), warps merge in shared memory and a second kernel merges the splits. One block per
//   head would leave most of the card idle and grow with the context.
// Both keep flash-attention's running maximum and sum (numerically stable softmax).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

namespace {

constexpr int kRowsThreads = 128;  // prefill kernel: each thread owns head dims tid and tid + 128
constexpr int kRowsTile = 64;
static_assert(2 * kRowsThreads >= kMaxHeadDim);

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * kWarp;
constexpr int kTile = kWarp;                             // positions per warp step: one per lane
constexpr int64_t kMinSplitPositions = kWarps * kTile;  // a split gives each warp a tile at least
constexpr int64_t kTargetBlocks = 512;                   // ~4 blocks per SM on a 132-SM card
constexpr int kGroupedHeadDim = 128;  // the grouped decode kernel's largest head_dim (shared memory: 8 heads × 4 warps)
constexpr int kMaxGroup = 8;          // … and largest number of query heads a KV head

// How a launch cuts positions 0..pos0+n−1: `count` ranges of `length` positions (a multiple of
// kTile). Splits only where (token, head) blocks alone would leave the card idle.
struct Splits {
    int64_t count = 1, length = 0;
};
Splits plan_splits(int64_t n, int64_t pos0, int64_t heads) {
    const int64_t max_len = pos0 + n, blocks = n * heads;
    int64_t count = 1;
    if (blocks < kTargetBlocks)
        count = std::max<int64_t>(1, std::min((max_len + kMinSplitPositions - 1) / kMinSplitPositions,
                                               (kTargetBlocks + blocks - 1) / blocks));
    int64_t length = (max_len + count - 1) / count;
    length = (length + kTile - 1) / kTile * kTile;
    return {(max_len + length - 1) / length, length};
}

// v transposed: value (position p, row i = kv·D + d) at v[i·capacity + p].
__global__ void kv_store_v_kernel(const float* v, int64_t n, int64_t row, int64_t pos0, int64_t capacity,
                                  float* cache_v) {
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * row) return;
    const int64_t t = idx / row, i = idx % row;
    cache_v[i * capacity + pos0 + t] = v[idx];
}

// Block (t, h) of the many-token kernel.
__global__ void attention_rows_kernel(const float* q, const float* cache_k, const float* cache_v, int64_t capacity,
                                      int kv_heads, int head_dim, int heads, int64_t pos0, float scale, float* out) {
    __shared__ float qs[kMaxHeadDim];
    __shared__ float p[kRowsTile];
    const int h = blockIdx.y, tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int64_t t = blockIdx.x;
    const int kv = h / (heads / kv_heads);
    const int64_t len = pos0 + t + 1, krow = int64_t(kv_heads) * head_dim;
    const float* qh = q + (t * heads + h) * head_dim;
    for (int d = tid; d < head_dim; d += kRowsThreads) qs[d] = qh[d];
    const float* vrows[2] = {cache_v + (int64_t(kv) * head_dim + tid) * capacity,
                             cache_v + (int64_t(kv) * head_dim + tid + kRowsThreads) * capacity};
    float acc[2] = {0.0f, 0.0f};
    float m = -INFINITY, l = 0.0f;
    __syncthreads();
    for (int64_t p0 = 0; p0 < len; p0 += kRowsTile) {
        const int tile = int(min(int64_t(kRowsTile), len - p0));
        for (int j = warp; j < tile; j += kRowsThreads / kWarp) {
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
        for (int j = tid; j < tile; j += kRowsThreads) p[j] = expf(p[j] - m_new);
        __syncthreads();
        float tile_sum = 0.0f;
        for (int j = 0; j < tile; ++j) tile_sum += p[j];
        l = l * rescale + tile_sum;
        for (int c = 0; c < 2; ++c) {
            if (tid + c * kRowsThreads >= head_dim) continue;
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
        if (tid + c * kRowsThreads < head_dim) oh[tid + c * kRowsThreads] = acc[c] / l;
}

// attention_rows_kernel for the G query heads that share a KV head: block (t, kv head) reads
// each K row and V value of the positions once for all G heads. Every head's arithmetic is
// attention_rows_kernel's in its order, so the outputs are that kernel's bit for bit.
template <int G>
__global__ void attention_rows_grouped_kernel(const float* q, const float* cache_k, const float* cache_v,
                                              int64_t capacity, int kv_heads, int head_dim, int heads, int64_t pos0,
                                              float scale, float* out) {
    __shared__ float qs[G][kGroupedHeadDim];
    __shared__ float p[G][kRowsTile];
    const int kv = blockIdx.y, tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int h0 = kv * G;
    const int64_t t = blockIdx.x;
    const int64_t len = pos0 + t + 1, krow = int64_t(kv_heads) * head_dim;
    for (int i = tid; i < G * head_dim; i += kRowsThreads) qs[i / head_dim][i % head_dim] = q[(t * heads + h0) * head_dim + i];
    const float* vrow = cache_v + (int64_t(kv) * head_dim + tid) * capacity;  // this thread's dim (head_dim ≤ 128)
    float acc[G], m[G], l[G];
#pragma unroll
    for (int g = 0; g < G; ++g) acc[g] = 0.0f, m[g] = -INFINITY, l[g] = 0.0f;
    __syncthreads();
    for (int64_t p0 = 0; p0 < len; p0 += kRowsTile) {
        const int tile = int(min(int64_t(kRowsTile), len - p0));
        for (int j = warp; j < tile; j += kRowsThreads / kWarp) {
            const float* kp = cache_k + (p0 + j) * krow + int64_t(kv) * head_dim;
            float s[G];
#pragma unroll
            for (int g = 0; g < G; ++g) s[g] = 0.0f;
            for (int d = lane; d < head_dim; d += kWarp) {
                const float k = kp[d];
#pragma unroll
                for (int g = 0; g < G; ++g) s[g] += qs[g][d] * k;
            }
#pragma unroll
            for (int g = 0; g < G; ++g) {
                s[g] = warp_sum(s[g]);
                if (lane == 0) p[g][j] = s[g] * scale;
            }
        }
        __syncthreads();
        float rescale[G];
#pragma unroll
        for (int g = 0; g < G; ++g) {
            float tile_max = -INFINITY;
            for (int j = 0; j < tile; ++j) tile_max = fmaxf(tile_max, p[g][j]);
            const float m_new = fmaxf(m[g], tile_max);
            rescale[g] = expf(m[g] - m_new);
            m[g] = m_new;
        }
        __syncthreads();
#pragma unroll
        for (int g = 0; g < G; ++g)
            for (int j = tid; j < tile; j += kRowsThreads) p[g][j] = expf(p[g][j] - m[g]);
        __syncthreads();
#pragma unroll
        for (int g = 0; g < G; ++g) {
            float tile_sum = 0.0f;
            for (int j = 0; j < tile; ++j) tile_sum += p[g][j];
            l[g] = l[g] * rescale[g] + tile_sum;
        }
        if (tid < head_dim) {
            float a[G];
#pragma unroll
            for (int g = 0; g < G; ++g) a[g] = acc[g] * rescale[g];
            const float* vr = vrow + p0;
            for (int j = 0; j < tile; ++j) {
                const float v = vr[j];
#pragma unroll
                for (int g = 0; g < G; ++g) a[g] += p[g][j] * v;
            }
#pragma unroll
            for (int g = 0; g < G; ++g) acc[g] = a[g];
        }
        __syncthreads();  // p is rewritten by the next tile
    }
    if (tid < head_dim)
#pragma unroll
        for (int g = 0; g < G; ++g) out[(t * heads + h0 + g) * head_dim + tid] = acc[g] / l[g];
}

// Score of the lane's position: q·k over head_dim, float4 loads where rows allow them.
__device__ inline float position_score(const float* qs, const float* kp, int head_dim) {
    float dot = 0.0f;
    if (head_dim % 4 == 0) {
        const float4* k4 = reinterpret_cast<const float4*>(kp);
        for (int d = 0; d < head_dim / 4; ++d) {
            const float4 k = k4[d];
            dot += qs[4 * d] * k.x;
            dot += qs[4 * d + 1] * k.y;
            dot += qs[4 * d + 2] * k.z;
            dot += qs[4 * d + 3] * k.w;
        }
    } else {
        for (int d = 0; d < head_dim; ++d) dot += qs[d] * kp[d];
    }
    return dot;
}

// C = head dims per lane, ceil(head_dim / 32). Block (t, h, split). With one split the output is
// written directly; else the split's unnormalised sum, maximum and total go to `partial`
// [t, heads, splits, head_dim + 2] (acc…, m, l).
template <int C, bool kVec4>
__global__ void attention_kernel(const float* q, const float* cache_k, const float* cache_v, int64_t capacity,
                                 int kv_heads, int head_dim, int heads, int64_t pos0, int64_t split_len, float scale,
                                 float* out, float* partial) {
    __shared__ float qs[kMaxHeadDim];
    __shared__ float warp_m[kWarps], warp_l[kWarps];
    __shared__ float warp_acc[kWarps][kMaxHeadDim];
    const int h = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    const int tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int64_t t = blockIdx.x;
    const int kv = h / (heads / kv_heads);
    const int64_t len = pos0 + t + 1, krow = int64_t(kv_heads) * head_dim;
    const int64_t begin = split * split_len, end = min(len, begin + split_len);
    const float* qh = q + (t * heads + h) * head_dim;
    for (int d = tid; d < head_dim; d += kThreads) qs[d] = qh[d];
    __syncthreads();
    const float* k_base = cache_k + int64_t(kv) * head_dim;
    const float* v_base = cache_v + int64_t(kv) * head_dim * capacity;
    float acc[C];
#pragma unroll
    for (int c = 0; c < C; ++c) acc[c] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int64_t p0 = begin + warp * kTile; p0 < end; p0 += kWarps * kTile) {
        const int count = int(min(int64_t(kTile), end - p0));  // the same in every lane
        const float s = lane < count ? position_score(qs, k_base + (p0 + lane) * krow, head_dim) * scale : -INFINITY;
        const float m_new = fmaxf(m, warp_max(s));
        const float rescale = expf(m - m_new);  // 0 on the warp's first tile (m = −inf)
        const float p = lane < count ? expf(s - m_new) : 0.0f;
        l = l * rescale + warp_sum(p);
#pragma unroll
        for (int c = 0; c < C; ++c) acc[c] *= rescale;
        int j = 0;
        if constexpr (kVec4) {  // capacity and p0 multiples of 4: four positions of a V row per load
            for (; j + 4 <= count; j += 4) {
                const float pa = __shfl_sync(0xffffffffu, p, j), pb = __shfl_sync(0xffffffffu, p, j + 1);
                const float pc = __shfl_sync(0xffffffffu, p, j + 2), pd = __shfl_sync(0xffffffffu, p, j + 3);
#pragma unroll
                for (int c = 0; c < C; ++c) {
                    const int d = lane + c * kWarp;
                    if (d < head_dim) {
                        const float4 v4 = *reinterpret_cast<const float4*>(v_base + int64_t(d) * capacity + p0 + j);
                        acc[c] += pa * v4.x;
                        acc[c] += pb * v4.y;
                        acc[c] += pc * v4.z;
                        acc[c] += pd * v4.w;
                    }
                }
            }
        }
        for (; j < count; ++j) {  // the rest one by one (past `count` the cache holds no values yet)
            const float pj = __shfl_sync(0xffffffffu, p, j);
            const float* vp = v_base + p0 + j;
#pragma unroll
            for (int c = 0; c < C; ++c) {
                const int d = lane + c * kWarp;
                if (d < head_dim) acc[c] += pj * vp[int64_t(d) * capacity];
            }
        }
        m = m_new;
    }
    if (lane == 0) {
        warp_m[warp] = m;
        warp_l[warp] = l;
    }
#pragma unroll
    for (int c = 0; c < C; ++c)
        if (lane + c * kWarp < head_dim) warp_acc[warp][lane + c * kWarp] = acc[c];
    __syncthreads();
    // Every thread merges the warps alike; a warp (or the whole split) without positions has
    // m = −inf and weighs 0.
    float M = -INFINITY;
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, warp_m[w]);
    float weight[kWarps], L = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
        weight[w] = warp_m[w] == -INFINITY ? 0.0f : expf(warp_m[w] - M);
        L += warp_l[w] * weight[w];
    }
    const int64_t slot = (t * heads + h) * splits + split;
    for (int d = tid; d < head_dim; d += kThreads) {
        float a = 0.0f;
        for (int w = 0; w < kWarps; ++w) a += warp_acc[w][d] * weight[w];
        if (splits == 1)
            out[(t * heads + h) * head_dim + d] = a / L;
        else
            partial[slot * (head_dim + 2) + d] = a;
    }
    if (splits > 1 && tid == 0) {
        partial[slot * (head_dim + 2) + head_dim] = M;
        partial[slot * (head_dim + 2) + head_dim + 1] = L;
    }
}

// The decode kernel for the G query heads that share a KV head (GQA): block (t, kv head, split)
// reads each K and V row of its positions once for all G heads instead of once per head. Every
// head's arithmetic is attention_kernel's, in its order (the same splits, tiles, dot products and
// running sums), so the outputs are that kernel's bit for bit; only the reads are shared.
template <int C, int G, bool kVec4>
__global__ void attention_grouped_kernel(const float* q, const float* cache_k, const float* cache_v, int64_t capacity,
                                         int kv_heads, int head_dim, int heads, int64_t pos0, int64_t split_len,
                                         float scale, float* out, float* partial) {
    __shared__ float qs[G][kGroupedHeadDim];
    __shared__ float warp_m[kWarps][G], warp_l[kWarps][G];
    __shared__ float warp_acc[kWarps][G][kGroupedHeadDim];
    const int kv = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    const int tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int64_t t = blockIdx.x;
    const int h0 = kv * G;
    const int64_t len = pos0 + t + 1, krow = int64_t(kv_heads) * head_dim;
    const int64_t begin = split * split_len, end = min(len, begin + split_len);
    for (int i = tid; i < G * head_dim; i += kThreads) qs[i / head_dim][i % head_dim] = q[(t * heads + h0) * head_dim + i];
    __syncthreads();
    const float* k_base = cache_k + int64_t(kv) * head_dim;
    const float* v_base = cache_v + int64_t(kv) * head_dim * capacity;
    float acc[G][C], m[G], l[G];
#pragma unroll
    for (int g = 0; g < G; ++g) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
#pragma unroll
        for (int c = 0; c < C; ++c) acc[g][c] = 0.0f;
    }
    for (int64_t p0 = begin + warp * kTile; p0 < end; p0 += kWarps * kTile) {
        const int count = int(min(int64_t(kTile), end - p0));  // the same in every lane
        // position_score for each head, the K row read once: the same products in the same order.
        float dot[G];
#pragma unroll
        for (int g = 0; g < G; ++g) dot[g] = 0.0f;
        if (lane < count) {
            const float* kp = k_base + (p0 + lane) * krow;
            if (head_dim % 4 == 0) {
                const float4* k4 = reinterpret_cast<const float4*>(kp);
                for (int d = 0; d < head_dim / 4; ++d) {
                    const float4 k = k4[d];
#pragma unroll
                    for (int g = 0; g < G; ++g) {
                        dot[g] += qs[g][4 * d] * k.x;
                        dot[g] += qs[g][4 * d + 1] * k.y;
                        dot[g] += qs[g][4 * d + 2] * k.z;
                        dot[g] += qs[g][4 * d + 3] * k.w;
                    }
                }
            } else {
                for (int d = 0; d < head_dim; ++d) {
                    const float k = kp[d];
#pragma unroll
                    for (int g = 0; g < G; ++g) dot[g] += qs[g][d] * k;
                }
            }
        }
        float p[G];
#pragma unroll
        for (int g = 0; g < G; ++g) {
            const float s = lane < count ? dot[g] * scale : -INFINITY;
            const float m_new = fmaxf(m[g], warp_max(s));
            const float rescale = expf(m[g] - m_new);  // 0 on the warp's first tile (m = −inf)
            p[g] = lane < count ? expf(s - m_new) : 0.0f;
            l[g] = l[g] * rescale + warp_sum(p[g]);
#pragma unroll
            for (int c = 0; c < C; ++c) acc[g][c] *= rescale;
            m[g] = m_new;
        }
        int j = 0;
        if constexpr (kVec4) {
            for (; j + 4 <= count; j += 4) {
                float pj[G][4];
#pragma unroll
                for (int g = 0; g < G; ++g)
                    for (int i = 0; i < 4; ++i) pj[g][i] = __shfl_sync(0xffffffffu, p[g], j + i);
#pragma unroll
                for (int c = 0; c < C; ++c) {
                    const int d = lane + c * kWarp;
                    if (d < head_dim) {
                        const float4 v4 = *reinterpret_cast<const float4*>(v_base + int64_t(d) * capacity + p0 + j);
#pragma unroll
                        for (int g = 0; g < G; ++g) {
                            acc[g][c] += pj[g][0] * v4.x;
                            acc[g][c] += pj[g][1] * v4.y;
                            acc[g][c] += pj[g][2] * v4.z;
                            acc[g][c] += pj[g][3] * v4.w;
                        }
                    }
                }
            }
        }
        for (; j < count; ++j) {
            float pj[G];
#pragma unroll
            for (int g = 0; g < G; ++g) pj[g] = __shfl_sync(0xffffffffu, p[g], j);
            const float* vp = v_base + p0 + j;
#pragma unroll
            for (int c = 0; c < C; ++c) {
                const int d = lane + c * kWarp;
                if (d < head_dim) {
                    const float v = vp[int64_t(d) * capacity];
#pragma unroll
                    for (int g = 0; g < G; ++g) acc[g][c] += pj[g] * v;
                }
            }
        }
    }
    if (lane == 0)
        for (int g = 0; g < G; ++g) {
            warp_m[warp][g] = m[g];
            warp_l[warp][g] = l[g];
        }
#pragma unroll
    for (int g = 0; g < G; ++g)
#pragma unroll
        for (int c = 0; c < C; ++c)
            if (lane + c * kWarp < head_dim) warp_acc[warp][g][lane + c * kWarp] = acc[g][c];
    __syncthreads();
    for (int g = 0; g < G; ++g) {
        float M = -INFINITY;
        for (int w = 0; w < kWarps; ++w) M = fmaxf(M, warp_m[w][g]);
        float weight[kWarps], L = 0.0f;
        for (int w = 0; w < kWarps; ++w) {
            weight[w] = warp_m[w][g] == -INFINITY ? 0.0f : expf(warp_m[w][g] - M);
            L += warp_l[w][g] * weight[w];
        }
        const int64_t h = h0 + g, slot = (t * heads + h) * splits + split;
        for (int d = tid; d < head_dim; d += kThreads) {
            float a = 0.0f;
            for (int w = 0; w < kWarps; ++w) a += warp_acc[w][g][d] * weight[w];
            if (splits == 1)
                out[(t * heads + h) * head_dim + d] = a / L;
            else
                partial[slot * (head_dim + 2) + d] = a;
        }
        if (splits > 1 && tid == 0) {
            partial[slot * (head_dim + 2) + head_dim] = M;
            partial[slot * (head_dim + 2) + head_dim + 1] = L;
        }
    }
}

// Block (t·heads + h): out = Σ_s acc_s·e^(m_s − M) / Σ_s l_s·e^(m_s − M). Split 0 always holds
// position 0, so M is finite.
__global__ void attention_merge_kernel(const float* partial, int splits, int head_dim, float* out) {
    const int64_t th = blockIdx.x;
    const float* ps = partial + th * splits * (head_dim + 2);
    float M = -INFINITY;
    for (int s = 0; s < splits; ++s) M = fmaxf(M, ps[s * (head_dim + 2) + head_dim]);
    float L = 0.0f;
    for (int s = 0; s < splits; ++s) {
        const float m = ps[s * (head_dim + 2) + head_dim];
        L += m == -INFINITY ? 0.0f : ps[s * (head_dim + 2) + head_dim + 1] * expf(m - M);
    }
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float a = 0.0f;
        for (int s = 0; s < splits; ++s) {
            const float m = ps[s * (head_dim + 2) + head_dim];
            if (m != -INFINITY) a += ps[s * (head_dim + 2) + d] * expf(m - M);
        }
        out[th * head_dim + d] = a / L;
    }
}

template <class F>
void dispatch_dims_per_lane(int64_t head_dim, F&& f) {
    switch ((head_dim + kWarp - 1) / kWarp) {
        case 1: f(std::integral_constant<int, 1>{}); return;
        case 2: f(std::integral_constant<int, 2>{}); return;
        case 3: f(std::integral_constant<int, 3>{}); return;
        case 4: f(std::integral_constant<int, 4>{}); return;
        case 5: f(std::integral_constant<int, 5>{}); return;
        case 6: f(std::integral_constant<int, 6>{}); return;
        case 7: f(std::integral_constant<int, 7>{}); return;
        default: f(std::integral_constant<int, 8>{}); return;  // head_dim ≤ kMaxHeadDim = 256
    }
}

}  // namespace

size_t attention_scratch_floats(int64_t n, int64_t pos0, int64_t heads, int64_t head_dim) {
    if (n <= 0 || heads <= 0) return 0;
    const Splits splits = plan_splits(n, pos0, heads);
    return splits.count == 1 ? 0 : size_t(n * heads * splits.count * (head_dim + 2));
}

namespace {

void attention_impl(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
                    const KvCacheView& cache, float* out, float* scratch, bool grouped, cudaStream_t stream) {
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
    const Splits splits = plan_splits(n, pos0, heads);
    if (splits.count > 1 && scratch == nullptr)
        throw_error("attention: " + std::to_string(splits.count) +
                    " position splits need scratch (attention_scratch_floats) and none was given");
    const int64_t row = cache.kv_heads * cache.head_dim;
    if (k || v) {  // (attention_grouped: both null when rope_neox_store_kv stored them)
        SLUICE_CUDA_CHECK(cudaMemcpyAsync(cache.k + pos0 * row, k, size_t(n * row) * sizeof(float),
                                          cudaMemcpyDeviceToDevice, stream));
        kv_store_v_kernel<<<element_blocks(n * row), kElementThreads, 0, stream>>>(v, n, row, pos0, cache.capacity,
                                                                                   cache.v);
        SLUICE_CUDA_CHECK_LAUNCH("kv_store_v_kernel");
    }
    const float scale = 1.0f / std::sqrt(float(cache.head_dim));
    const int64_t group = heads / cache.kv_heads;
    const bool grouped_shape = grouped && (group == 2 || group == 4 || group == 8) && cache.head_dim <= kGroupedHeadDim;
    if (splits.count == 1 && n * heads >= kTargetBlocks && grouped_shape) {
        const dim3 grid{unsigned(n), unsigned(cache.kv_heads)};
        auto launch = [&](auto group_tag) {
            attention_rows_grouped_kernel<decltype(group_tag)::value><<<grid, kRowsThreads, 0, stream>>>(
                q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads), pos0, scale,
                out);
        };
        if (group == 2)
            launch(std::integral_constant<int, 2>{});
        else if (group == 4)
            launch(std::integral_constant<int, 4>{});
        else
            launch(std::integral_constant<int, kMaxGroup>{});
        SLUICE_CUDA_CHECK_LAUNCH("attention_rows_grouped_kernel");
        return;
    }
    if (splits.count == 1 && n * heads >= kTargetBlocks) {  // enough (token, head) blocks: no split
        attention_rows_kernel<<<dim3{unsigned(n), unsigned(heads)}, kRowsThreads, 0, stream>>>(
            q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads), pos0, scale, out);
        SLUICE_CUDA_CHECK_LAUNCH("attention_rows_kernel");
        return;
    }
    if (grouped_shape) {
        const dim3 grid{unsigned(n), unsigned(cache.kv_heads), unsigned(splits.count)};
        dispatch_dims_per_lane(cache.head_dim, [&](auto dims) {
            constexpr int C = decltype(dims)::value;
            if constexpr (C <= kGroupedHeadDim / kWarp) {
                auto launch = [&](auto group_tag) {
                    constexpr int G = decltype(group_tag)::value;
                    if (cache.capacity % 4 == 0)
                        attention_grouped_kernel<C, G, true><<<grid, kThreads, 0, stream>>>(
                            q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads),
                            pos0, splits.length, scale, out, scratch);
                    else
                        attention_grouped_kernel<C, G, false><<<grid, kThreads, 0, stream>>>(
                            q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads),
                            pos0, splits.length, scale, out, scratch);
                };
                if (group == 2)
                    launch(std::integral_constant<int, 2>{});
                else if (group == 4)
                    launch(std::integral_constant<int, 4>{});
                else
                    launch(std::integral_constant<int, kMaxGroup>{});
            }
        });
        SLUICE_CUDA_CHECK_LAUNCH("attention_grouped_kernel");
    } else {
        const dim3 grid{unsigned(n), unsigned(heads), unsigned(splits.count)};
        dispatch_dims_per_lane(cache.head_dim, [&](auto dims) {
            constexpr int C = decltype(dims)::value;
            if (cache.capacity % 4 == 0)
                attention_kernel<C, true><<<grid, kThreads, 0, stream>>>(q, cache.k, cache.v, cache.capacity,
                                                                         int(cache.kv_heads), int(cache.head_dim),
                                                                         int(heads), pos0, splits.length, scale, out,
                                                                         scratch);
            else
                attention_kernel<C, false><<<grid, kThreads, 0, stream>>>(q, cache.k, cache.v, cache.capacity,
                                                                          int(cache.kv_heads), int(cache.head_dim),
                                                                          int(heads), pos0, splits.length, scale, out,
                                                                          scratch);
        });
        SLUICE_CUDA_CHECK_LAUNCH("attention_kernel");
    }
    if (splits.count > 1) {
        attention_merge_kernel<<<unsigned(n * heads), kThreads, 0, stream>>>(scratch, int(splits.count),
                                                                            int(cache.head_dim), out);
        SLUICE_CUDA_CHECK_LAUNCH("attention_merge_kernel");
    }
}

}  // namespace

void attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
               const KvCacheView& cache, float* out, float* scratch, cudaStream_t stream) {
    if (n > 0 && (!k || !v)) throw_error("attention: k and v are null (attention_grouped takes them already stored)");
    attention_impl(q, k, v, n, pos0, heads, cache, out, scratch, false, stream);
}

void attention_grouped(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
                       const KvCacheView& cache, float* out, float* scratch, cudaStream_t stream) {
    if (!k != !v) throw_error("attention_grouped: one of k and v is null (both are, when they are already stored)");
    attention_impl(q, k, v, n, pos0, heads, cache, out, scratch, true, stream);
}

}  // namespace sluice::cuda
