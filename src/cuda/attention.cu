// GQA causal attention over the KV cache (f32, f16 or Q8_0, read as stored: every kernel is a
// template on the cache type, whose reads are k_value / v_value / the Q8_0 score below), two kernels:
// - many tokens (prefill): a block per (token, query head) walks the positions in tiles of 64:
//   warps compute the tile's scores (lanes along head_dim, coalesced over the K row), then each
//   thread updates its output dims from the transposed V rows;
// - few tokens (decode): the positions are split over several blocks (flash-decoding), each
//   warp takes tiles of 32 positions (a lane per position for the scores, a lane per head dim for
//   the values), warps merge in shared memory and a second kernel merges the splits. One block per
//   head would leave most of the card idle and grow with the context.
// Both keep flash-attention's running maximum and sum (numerically stable softmax). With a Q8_0
// cache q is quantised to Q8_0 blocks as the CPU quantises it, and q·k is the CPU's Q8_0 dot:
// integer sums per block, each scaled by the two blocks' factors, the blocks added in order.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/q8_arith.h"
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
// kTile). With n·heads ≥ kTargetBlocks (prefill) a block per (token, head) fills the card: one
// range. Otherwise enough ranges that the grouped decode kernel's (token, KV head) blocks, the
// fewest of any kernel here, fill it, down to a tile per warp. attention_kernel cuts the same
// ranges, so that the two kernels' outputs stay equal bit for bit (the ranges fix the order of
// the sums).
struct Splits {
    int64_t count = 1, length = 0;
};
Splits plan_splits(int64_t n, int64_t pos0, int64_t heads, int64_t kv_heads) {
    const int64_t max_len = pos0 + n, blocks = n * kv_heads;
    int64_t count = 1;
    if (n * heads < kTargetBlocks)
        count = std::max<int64_t>(1, std::min((max_len + kMinSplitPositions - 1) / kMinSplitPositions,
                                               (kTargetBlocks + blocks - 1) / blocks));
    int64_t length = (max_len + count - 1) / count;
    length = (length + kTile - 1) / kTile * kTile;
    return {(max_len + length - 1) / length, length};
}

// Query heads a block of the grouped decode kernel takes: the whole group (2, 4 or 8), halved
// down to 2 while the launch has fewer than kTargetBlocks blocks. Short contexts have few ranges
// (a range gives each warp a tile at least): at 4,096 positions and 4 KV heads, 32 ranges make
// 128 blocks of 8 heads, fewer than the 132 SMs, where 512 blocks of 2 heads keep about four on
// each; each halving reads the K and V rows twice as often (from L2), the arithmetic of every head
// unchanged.
int64_t grouped_decode_heads(int64_t group, int64_t n, int64_t heads, int64_t split_count) {
    int64_t g = group;
    while (g > 2 && n * (heads / g) * split_count < kTargetBlocks) g /= 2;
    return g;
}

// ---- reading the cache --------------------------------------------------------------------------

// K value `index` of an f32 or f16 cache ([capacity, kv_heads, head_dim]).
template <KvCacheType T>
__device__ inline float k_value(const void* cache_k, int64_t index) {
    static_assert(T != KvCacheType::Q8_0, "Q8_0 K is read by blocks (q8_score)");
    if constexpr (T == KvCacheType::F32) return static_cast<const float*>(cache_k)[index];
    else return q8::half_to_float(static_cast<const uint16_t*>(cache_k)[index]);
}

// Values index..index + 3 of an f32 or f16 array (16- or 8-byte aligned there): one load.
template <KvCacheType T>
__device__ inline float4 values4(const void* base, int64_t index) {
    static_assert(T != KvCacheType::Q8_0, "Q8_0 is read by blocks");
    if constexpr (T == KvCacheType::F32) {
        return *reinterpret_cast<const float4*>(static_cast<const float*>(base) + index);
    } else {
        const uint2 w = *reinterpret_cast<const uint2*>(static_cast<const uint16_t*>(base) + index);
        return make_float4(q8::half_to_float(uint16_t(w.x & 0xffffu)), q8::half_to_float(uint16_t(w.x >> 16)),
                           q8::half_to_float(uint16_t(w.y & 0xffffu)), q8::half_to_float(uint16_t(w.y >> 16)));
    }
}

// V at (position p, KV head kv, dim d).
template <KvCacheType T>
__device__ inline float v_value(const void* cache_v, int64_t capacity, int kv_heads, int head_dim, int kv, int d,
                                int64_t p) {
    if constexpr (T == KvCacheType::F32) {
        return static_cast<const float*>(cache_v)[(int64_t(kv) * head_dim + d) * capacity + p];
    } else if constexpr (T == KvCacheType::F16) {
        return q8::half_to_float(static_cast<const uint16_t*>(cache_v)[(int64_t(kv) * head_dim + d) * capacity + p]);
    } else {  // the CPU's dequantize_q8_0: d·q
        const BlockQ8_0& b =
            static_cast<const BlockQ8_0*>(cache_v)[(p * kv_heads + kv) * ((head_dim + 31) / 32) + d / 32];
        return q8::mul_rn(q8::half_to_float(b.d), q8::to_float(b.qs[d % 32]));
    }
}

// The Q8_0 K row of (position p, KV head kv).
__device__ inline const BlockQ8_0* q8_k_row(const void* cache_k, int64_t p, int kv_heads, int kv, int head_dim) {
    return static_cast<const BlockQ8_0*>(cache_k) + (p * kv_heads + kv) * ((head_dim + 31) / 32);
}

// q·k of a Q8_0 K row and a query quantised by quantize_queries: the CPU's dot_q8_0 (kernels/
// dot_portable.cpp), the blocks' terms added in order.
__device__ inline float q8_score(const BlockQ8_0* k, const q8::ActQ8_0* q, int blocks) {
    float s = 0.0f;
    for (int b = 0; b < blocks; ++b) s = q8::add_rn(s, q8::block_term<GgmlType::Q8_0>(k[b], q[b]));
    return s;
}

// Query blocks a kernel keeps in shared memory for a cache of type T (one, unused, but f32/f16).
template <KvCacheType T, int kHeadDim>
constexpr int kQueryBlocks = T == KvCacheType::Q8_0 ? kHeadDim / 32 : 1;

// For a Q8_0 cache: the G query heads in qs (rows `stride` floats apart) quantised into qa (rows
// `qa_stride` blocks apart) as the CPU quantises q (its quantize_q8_0 of the zero-padded row),
// a thread per block; then a barrier. Nothing for f32 and f16.
template <KvCacheType T>
__device__ inline void quantize_queries(const float* qs, int stride, int G, int head_dim, q8::ActQ8_0* qa,
                                        int qa_stride, int tid, int threads) {
    if constexpr (T == KvCacheType::Q8_0) {
        const int blocks = (head_dim + 31) / 32;
        for (int i = tid; i < G * blocks; i += threads) {
            const int g = i / blocks, b = i % blocks;
            float x[32];
            for (int j = 0; j < 32; ++j) x[j] = 32 * b + j < head_dim ? qs[g * stride + 32 * b + j] : 0.0f;
            q8::quantize_block_q8_0(x, qa[g * qa_stride + b]);
        }
        __syncthreads();
    }
}

// ---- kernels -----------------------------------------------------------------------------------

// Block (t, h) of the many-token kernel.
template <KvCacheType T>
__global__ void attention_rows_kernel(const float* q, const void* cache_k, const void* cache_v, int64_t capacity,
                                      int kv_heads, int head_dim, int heads, int64_t pos0, float scale, float* out) {
    __shared__ float qs[kMaxHeadDim];
    __shared__ q8::ActQ8_0 qa[kQueryBlocks<T, kMaxHeadDim>];
    __shared__ float p[kRowsTile];
    const int h = blockIdx.y, tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int64_t t = blockIdx.x;
    const int kv = h / (heads / kv_heads);
    const int64_t len = pos0 + t + 1, krow = int64_t(kv_heads) * head_dim;
    const int blocks = (head_dim + 31) / 32;
    const float* qh = q + (t * heads + h) * head_dim;
    for (int d = tid; d < head_dim; d += kRowsThreads) qs[d] = qh[d];
    float acc[2] = {0.0f, 0.0f};
    float m = -INFINITY, l = 0.0f;
    __syncthreads();
    quantize_queries<T>(qs, kMaxHeadDim, 1, head_dim, qa, 0, tid, kRowsThreads);
    for (int64_t p0 = 0; p0 < len; p0 += kRowsTile) {
        const int tile = int(min(int64_t(kRowsTile), len - p0));
        for (int j = warp; j < tile; j += kRowsThreads / kWarp) {
            float s = 0.0f;
            if constexpr (T == KvCacheType::Q8_0) {  // a lane per block
                const BlockQ8_0* kb = q8_k_row(cache_k, p0 + j, kv_heads, kv, head_dim);
                for (int b = lane; b < blocks; b += kWarp) s += q8::block_term<GgmlType::Q8_0>(kb[b], qa[b]);
            } else {
                const int64_t k0 = (p0 + j) * krow + int64_t(kv) * head_dim;
                for (int d = lane; d < head_dim; d += kWarp) s += qs[d] * k_value<T>(cache_k, k0 + d);
            }
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
            const int d = tid + c * kRowsThreads;
            if (d >= head_dim) continue;
            float a = acc[c] * rescale;
            for (int j = 0; j < tile; ++j) a += p[j] * v_value<T>(cache_v, capacity, kv_heads, head_dim, kv, d, p0 + j);
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
template <KvCacheType T, int G>
__global__ void attention_rows_grouped_kernel(const float* q, const void* cache_k, const void* cache_v,
                                              int64_t capacity, int kv_heads, int head_dim, int heads, int64_t pos0,
                                              float scale, float* out) {
    constexpr int kBlocks = kQueryBlocks<T, kGroupedHeadDim>;
    __shared__ float qs[G][kGroupedHeadDim];
    __shared__ q8::ActQ8_0 qa[G][kBlocks];
    __shared__ float p[G][kRowsTile];
    const int kv = blockIdx.y, tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int h0 = kv * G;
    const int64_t t = blockIdx.x;
    const int64_t len = pos0 + t + 1, krow = int64_t(kv_heads) * head_dim;
    const int blocks = (head_dim + 31) / 32;
    for (int i = tid; i < G * head_dim; i += kRowsThreads) qs[i / head_dim][i % head_dim] = q[(t * heads + h0) * head_dim + i];
    float acc[G], m[G], l[G];
#pragma unroll
    for (int g = 0; g < G; ++g) acc[g] = 0.0f, m[g] = -INFINITY, l[g] = 0.0f;
    __syncthreads();
    quantize_queries<T>(&qs[0][0], kGroupedHeadDim, G, head_dim, &qa[0][0], kBlocks, tid, kRowsThreads);
    for (int64_t p0 = 0; p0 < len; p0 += kRowsTile) {
        const int tile = int(min(int64_t(kRowsTile), len - p0));
        for (int j = warp; j < tile; j += kRowsThreads / kWarp) {
            float s[G];
#pragma unroll
            for (int g = 0; g < G; ++g) s[g] = 0.0f;
            if constexpr (T == KvCacheType::Q8_0) {  // a lane per block
                const BlockQ8_0* kb = q8_k_row(cache_k, p0 + j, kv_heads, kv, head_dim);
                for (int b = lane; b < blocks; b += kWarp)
#pragma unroll
                    for (int g = 0; g < G; ++g) s[g] += q8::block_term<GgmlType::Q8_0>(kb[b], qa[g][b]);
            } else {
                const int64_t k0 = (p0 + j) * krow + int64_t(kv) * head_dim;
                for (int d = lane; d < head_dim; d += kWarp) {
                    const float k = k_value<T>(cache_k, k0 + d);
#pragma unroll
                    for (int g = 0; g < G; ++g) s[g] += qs[g][d] * k;
                }
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
        if (tid < head_dim) {  // this thread's dim (head_dim ≤ 128)
            float a[G];
#pragma unroll
            for (int g = 0; g < G; ++g) a[g] = acc[g] * rescale[g];
            for (int j = 0; j < tile; ++j) {
                const float v = v_value<T>(cache_v, capacity, kv_heads, head_dim, kv, tid, p0 + j);
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

// Score of the lane's position p for KV head kv: q·k over head_dim (qa: q quantised, Q8_0 only),
// f32 and f16 rows four values a load where rows allow them.
template <KvCacheType T>
__device__ inline float position_score(const float* qs, const q8::ActQ8_0* qa, const void* cache_k, int64_t p,
                                       int kv_heads, int kv, int head_dim) {
    if constexpr (T == KvCacheType::Q8_0) {
        return q8_score(q8_k_row(cache_k, p, kv_heads, kv, head_dim), qa, (head_dim + 31) / 32);
    } else {
        const int64_t k0 = (p * kv_heads + kv) * head_dim;
        float dot = 0.0f;
        if (head_dim % 4 == 0) {
            for (int d = 0; d < head_dim / 4; ++d) {
                const float4 k = values4<T>(cache_k, k0 + 4 * d);
                dot += qs[4 * d] * k.x;
                dot += qs[4 * d + 1] * k.y;
                dot += qs[4 * d + 2] * k.z;
                dot += qs[4 * d + 3] * k.w;
            }
        } else {
            for (int d = 0; d < head_dim; ++d) dot += qs[d] * k_value<T>(cache_k, k0 + d);
        }
        return dot;
    }
}

// The end of a decode block for one head (th = token·heads + head): merges its warps' running
// maxima, totals and sums (warp w's at m[w·stride], l[w·stride], acc[w·acc_stride + d]; a warp,
// or a whole split, without positions has m = −inf and weighs 0), then writes the output when
// the launch has one split, else the split's unnormalised sum, maximum and total to
// partial[th, split] (acc…, M, L) for attention_merge_kernel. Every thread computes M and L alike.
__device__ inline void finish_block(const float* m, const float* l, int stride, const float* acc, int acc_stride,
                                    int head_dim, int64_t th, int split, int splits, float* out, float* partial) {
    float M = -INFINITY;
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, m[w * stride]);
    float weight[kWarps], L = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
        weight[w] = m[w * stride] == -INFINITY ? 0.0f : expf(m[w * stride] - M);
        L += l[w * stride] * weight[w];
    }
    const int64_t slot = th * splits + split;
    for (int d = threadIdx.x; d < head_dim; d += kThreads) {
        float a = 0.0f;
        for (int w = 0; w < kWarps; ++w) a += acc[w * acc_stride + d] * weight[w];
        if (splits == 1)
            out[th * head_dim + d] = a / L;
        else
            partial[slot * (head_dim + 2) + d] = a;
    }
    if (splits > 1 && threadIdx.x == 0) {
        partial[slot * (head_dim + 2) + head_dim] = M;
        partial[slot * (head_dim + 2) + head_dim + 1] = L;
    }
}

// C = head dims per lane, ceil(head_dim / 32). Block (t, h, split). With one split the output is
// written directly; else the split's unnormalised sum, maximum and total go to `partial`
// [t, heads, splits, head_dim + 2] (acc…, m, l).
template <KvCacheType T, int C, bool kVec4>
__global__ void attention_kernel(const float* q, const void* cache_k, const void* cache_v, int64_t capacity,
                                 int kv_heads, int head_dim, int heads, int64_t pos0, int64_t split_len, float scale,
                                 float* out, float* partial) {
    static_assert(!kVec4 || T != KvCacheType::Q8_0, "four-position V loads read f32 and f16 caches");
    __shared__ float qs[kMaxHeadDim];
    __shared__ q8::ActQ8_0 qa[kQueryBlocks<T, kMaxHeadDim>];
    __shared__ float warp_m[kWarps], warp_l[kWarps];
    __shared__ float warp_acc[kWarps][kMaxHeadDim];
    const int h = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    const int tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int64_t t = blockIdx.x;
    const int kv = h / (heads / kv_heads);
    const int64_t len = pos0 + t + 1;
    const int64_t begin = split * split_len, end = min(len, begin + split_len);
    const float* qh = q + (t * heads + h) * head_dim;
    for (int d = tid; d < head_dim; d += kThreads) qs[d] = qh[d];
    __syncthreads();
    quantize_queries<T>(qs, kMaxHeadDim, 1, head_dim, qa, 0, tid, kThreads);
    float acc[C];
#pragma unroll
    for (int c = 0; c < C; ++c) acc[c] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int64_t p0 = begin + warp * kTile; p0 < end; p0 += kWarps * kTile) {
        const int count = int(min(int64_t(kTile), end - p0));  // the same in every lane
        const float s =
            lane < count ? position_score<T>(qs, qa, cache_k, p0 + lane, kv_heads, kv, head_dim) * scale : -INFINITY;
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
                        const float4 v4 = values4<T>(cache_v, (int64_t(kv) * head_dim + d) * capacity + p0 + j);
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
#pragma unroll
            for (int c = 0; c < C; ++c) {
                const int d = lane + c * kWarp;
                if (d < head_dim) acc[c] += pj * v_value<T>(cache_v, capacity, kv_heads, head_dim, kv, d, p0 + j);
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
    finish_block(warp_m, warp_l, 1, &warp_acc[0][0], kMaxHeadDim, head_dim, t * heads + h, split, splits, out, partial);
}

// The decode kernel for G query heads that share a KV head (GQA; G divides the group, and is the
// group unless blocks would be too few: grouped_decode_heads): block (t, y, split) takes query
// heads yG..yG + G − 1 and reads each K and V row of its positions once for all G heads instead
// of once per head. Every head's arithmetic is attention_kernel's, in its order (the same splits,
// tiles, dot products and running sums), so the outputs are that kernel's bit for bit; only the
// reads are shared.
template <KvCacheType T, int C, int G, bool kVec4>
__global__ void attention_grouped_kernel(const float* q, const void* cache_k, const void* cache_v, int64_t capacity,
                                         int kv_heads, int head_dim, int heads, int64_t pos0, int64_t split_len,
                                         float scale, float* out, float* partial) {
    static_assert(!kVec4 || T != KvCacheType::Q8_0, "four-position V loads read f32 and f16 caches");
    constexpr int kBlocks = kQueryBlocks<T, kGroupedHeadDim>;
    __shared__ float qs[G][kGroupedHeadDim];
    __shared__ q8::ActQ8_0 qa[G][kBlocks];
    __shared__ float warp_m[kWarps][G], warp_l[kWarps][G];
    __shared__ float warp_acc[kWarps][G][kGroupedHeadDim];
    const int split = blockIdx.z, splits = gridDim.z;
    const int tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp;
    const int64_t t = blockIdx.x;
    const int h0 = blockIdx.y * G, kv = h0 / (heads / kv_heads);
    const int64_t len = pos0 + t + 1;
    const int64_t begin = split * split_len, end = min(len, begin + split_len);
    for (int i = tid; i < G * head_dim; i += kThreads) qs[i / head_dim][i % head_dim] = q[(t * heads + h0) * head_dim + i];
    __syncthreads();
    quantize_queries<T>(&qs[0][0], kGroupedHeadDim, G, head_dim, &qa[0][0], kBlocks, tid, kThreads);
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
            if constexpr (T == KvCacheType::Q8_0) {
                const BlockQ8_0* kb = q8_k_row(cache_k, p0 + lane, kv_heads, kv, head_dim);
                for (int b = 0; b < (head_dim + 31) / 32; ++b)
#pragma unroll
                    for (int g = 0; g < G; ++g)
                        dot[g] = q8::add_rn(dot[g], q8::block_term<GgmlType::Q8_0>(kb[b], qa[g][b]));
            } else {
                const int64_t k0 = ((p0 + lane) * kv_heads + kv) * head_dim;
                if (head_dim % 4 == 0) {
                    for (int d = 0; d < head_dim / 4; ++d) {
                        const float4 k = values4<T>(cache_k, k0 + 4 * d);
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
                        const float k = k_value<T>(cache_k, k0 + d);
#pragma unroll
                        for (int g = 0; g < G; ++g) dot[g] += qs[g][d] * k;
                    }
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
                        const float4 v4 = values4<T>(cache_v, (int64_t(kv) * head_dim + d) * capacity + p0 + j);
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
#pragma unroll
            for (int c = 0; c < C; ++c) {
                const int d = lane + c * kWarp;
                if (d < head_dim) {
                    const float v = v_value<T>(cache_v, capacity, kv_heads, head_dim, kv, d, p0 + j);
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
    for (int g = 0; g < G; ++g)
        finish_block(&warp_m[0][g], &warp_l[0][g], G, &warp_acc[0][g][0], G * kGroupedHeadDim, head_dim,
                     t * heads + h0 + g, split, splits, out, partial);
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

size_t attention_scratch_floats(int64_t n, int64_t pos0, int64_t heads, int64_t kv_heads, int64_t head_dim) {
    if (n <= 0 || heads <= 0 || kv_heads <= 0) return 0;
    const Splits splits = plan_splits(n, pos0, heads, kv_heads);
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
    const Splits splits = plan_splits(n, pos0, heads, cache.kv_heads);
    if (splits.count > 1 && scratch == nullptr)
        throw_error("attention: " + std::to_string(splits.count) +
                    " position splits need scratch (attention_scratch_floats) and none was given");
    if (k || v) store_kv(k, v, n, pos0, cache, stream);  // (attention_grouped: both null when rope_neox_store_kv stored them)
    const float scale = 1.0f / std::sqrt(float(cache.head_dim));
    const int64_t group = heads / cache.kv_heads;
    const bool grouped_shape = grouped && (group == 2 || group == 4 || group == 8) && cache.head_dim <= kGroupedHeadDim;
    // Four-position V loads: f32 and f16 caches whose capacity (and so every V row's start) is a
    // multiple of 4.
    const bool vec4 = cache.type != KvCacheType::Q8_0 && cache.capacity % 4 == 0;
    dispatch_cache_type(cache.type, "attention", [&](auto type_tag) {
        constexpr KvCacheType T = decltype(type_tag)::value;
        if (splits.count == 1 && n * heads >= kTargetBlocks && grouped_shape) {
            const dim3 grid{unsigned(n), unsigned(cache.kv_heads)};
            auto launch = [&](auto group_tag) {
                attention_rows_grouped_kernel<T, decltype(group_tag)::value><<<grid, kRowsThreads, 0, stream>>>(
                    q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads), pos0,
                    scale, out);
            };
            if (group == 2)
                launch(std::integral_constant<int, 2>{});
            else if (group == 4)
                launch(std::integral_constant<int, 4>{});
            else
                launch(std::integral_constant<int, kMaxGroup>{});
            SLUICE_CUDA_CHECK_LAUNCH("attention_rows_grouped_kernel");
        } else if (splits.count == 1 && n * heads >= kTargetBlocks) {  // enough (token, head) blocks: no split
            attention_rows_kernel<T><<<dim3{unsigned(n), unsigned(heads)}, kRowsThreads, 0, stream>>>(
                q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads), pos0, scale,
                out);
            SLUICE_CUDA_CHECK_LAUNCH("attention_rows_kernel");
        } else if (grouped_shape) {
            const int64_t heads_per_block = grouped_decode_heads(group, n, heads, splits.count);
            const dim3 grid{unsigned(n), unsigned(heads / heads_per_block), unsigned(splits.count)};
            dispatch_dims_per_lane(cache.head_dim, [&](auto dims) {
                constexpr int C = decltype(dims)::value;
                if constexpr (C <= kGroupedHeadDim / kWarp) {
                    auto launch = [&](auto group_tag) {
                        constexpr int G = decltype(group_tag)::value;
                        if constexpr (T != KvCacheType::Q8_0)
                            if (vec4) {
                                attention_grouped_kernel<T, C, G, true><<<grid, kThreads, 0, stream>>>(
                                    q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim),
                                    int(heads), pos0, splits.length, scale, out, scratch);
                                return;
                            }
                        attention_grouped_kernel<T, C, G, false><<<grid, kThreads, 0, stream>>>(
                            q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads),
                            pos0, splits.length, scale, out, scratch);
                    };
                    if (heads_per_block == 2)
                        launch(std::integral_constant<int, 2>{});
                    else if (heads_per_block == 4)
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
                if constexpr (T != KvCacheType::Q8_0)
                    if (vec4) {
                        attention_kernel<T, C, true><<<grid, kThreads, 0, stream>>>(
                            q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads),
                            pos0, splits.length, scale, out, scratch);
                        return;
                    }
                attention_kernel<T, C, false><<<grid, kThreads, 0, stream>>>(
                    q, cache.k, cache.v, cache.capacity, int(cache.kv_heads), int(cache.head_dim), int(heads), pos0,
                    splits.length, scale, out, scratch);
            });
            SLUICE_CUDA_CHECK_LAUNCH("attention_kernel");
        }
    });
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
