// The CUDA kernels' host-callable launchers. Every pointer is device memory, row-major like the
// CPU code's arrays; every launcher enqueues on `stream` and returns without synchronising.
// Invalid sizes or a type without a kernel throw sluice::Error before anything is launched.
// This header is compiled by nvcc in C++17 as well as by the C++20 host code.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/kv_cache_type.h"
#include "quant/types.h"

namespace sluice::cuda {

// ---- weights as stored (matvec.cu, dequantize.cu, gemm.cu) --------------------------------------

// The types the matrix kernels read: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K … Q6_K,
// IQ4_NL, IQ4_XS.
bool has_kernel(GgmlType type);

// Most activation rows one matvec call takes (the tokens one expert sees in a small batch).
inline constexpr int64_t kMaxMatvecRows = 8;

// y[n, rows] = x[n, cols] · Wᵀ, 1 ≤ n ≤ kMaxMatvecRows: one to four warps per weight row read it
// once for all n rows of x. W is `rows` rows of row_bytes(type, cols) bytes, blocks as in the file.
void matvec(GgmlType type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t n, float* y,
            cudaStream_t stream);

// One weight of a matvec_shared launch: y[n, rows] = x · Wᵀ.
struct MatvecTarget {
    const void* w = nullptr;
    int64_t rows = 0;
    float* y = nullptr;
};
inline constexpr int kMaxMatvecTargets = 4;

// matvec for 1..kMaxMatvecTargets weights of one type and row length that multiply the same x,
// in one launch (decode's q, k and v projections).
void matvec_shared(GgmlType type, const MatvecTarget* targets, int count, int64_t cols, const float* x, int64_t n,
                   cudaStream_t stream);

// dst[t, cols] = float32 row ids[t] of W, t < n (embedding lookup; ids must be < W's rows,
// which the caller has checked on the host). Values are bit-identical to dequantize_row_ref.
void dequantize_rows(GgmlType type, const void* w, int64_t cols, const int32_t* ids, int64_t n, float* dst,
                     cudaStream_t stream);

// Scratch bytes matmul_prefill needs to dequantise all of W in one slice (less is fine, down to
// one row per slice: it then runs in slices).
size_t matmul_prefill_scratch_bytes(GgmlType type, int64_t rows, int64_t cols, int64_t n);

// Y[n, rows] = X[n, cols] · Wᵀ for prefill batches: a quantised or 16-bit W is dequantised to
// float32 slice by slice into `scratch` and cuBLAS multiplies in float32 (no TF32, no tensor
// cores: gemm.cu says why). A tensor-core kernel reading the blocks directly (llama.cpp's mmq)
// with an error bound of its own is later work.
void matmul_prefill(cublasHandle_t cublas, GgmlType type, const void* w, int64_t rows, int64_t cols, const float* x,
                    int64_t n, float* y, void* scratch, size_t scratch_bytes, cudaStream_t stream);

// ---- 8-bit activations (quantize_q8.cu, matvec_q8.cu; q8_arith.h has the arithmetic) -----------
// The GPU follows the CPU's quantised path here: activations quantised to 8 bits exactly as the
// CPU quantises them (Q8_K for Q4_K/Q5_K/Q6_K and the IQ grid types, Q8_0 for Q8_0), integer
// dot products (dp4a).

// Q4_K, Q5_K, Q6_K, Q8_0 and the IQ grid types (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S).
bool has_q8_kernel(GgmlType type);

// Bytes of `rows` activation rows of `cols` values quantised for products with weight type `type`.
size_t q8_activation_bytes(GgmlType type, int64_t rows, int64_t cols);

// dst = x [rows, cols] quantised for products with weight type `type` (has_q8_kernel), as the
// CPU's activation quantiser does it, bit for bit; cols a whole number of the type's blocks.
void quantize_activations(GgmlType type, const float* x, int64_t rows, int64_t cols, void* dst, cudaStream_t stream);

// matvec_shared on activations quantised by quantize_activations (n ≤ kMaxMatvecRows rows).
void matvec_q8(GgmlType type, const MatvecTarget* targets, int count, int64_t cols, const void* xq, int64_t n,
               cudaStream_t stream);

// ---- prefill products on int8 tensor cores (mmq.cu) -----------------------------------------------

// Q4_K, Q5_K, Q6_K, Q8_0, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S.
bool has_mmq_kernel(GgmlType type);

// Activation rows (tokens) first .. first + count − 1, count ≤ 32, times the launch's weight
// number `weight`.
struct MmqTile {
    int32_t weight = 0, first = 0, count = 0;
};

// The tiles of groups i: rows first[i] .. first[i] + count[i] − 1 times weight[i].
std::vector<MmqTile> mmq_tiles(const std::vector<int32_t>& weight, const std::vector<int64_t>& first,
                               const std::vector<int64_t>& count);

// Y[t, rows] = X[t] · Wᵀ for X quantised by quantize_activations for `type` (rows of `cols`
// values): with `tiles` (a device array of n_tiles), each tile's tokens times
// weights[tile.weight] (a device array of weight pointers: every expert of a MoE layer in one
// launch); without (tiles null), tokens 0..n−1 times `weight`. Each output is the portable CPU
// dot of the same quantised operands, bit for bit.
void mmq(GgmlType type, const void* const* weights, const void* weight, const MmqTile* tiles, int64_t n_tiles,
         int64_t n, int64_t rows, int64_t cols, const void* xq, float* y, cudaStream_t stream);

// ---- norms, rotary embedding, element-wise (norm.cu, rope.cu, elementwise.cu) -------------------

// y = x / rms(x) · w over rows of `width` (w may be null); y may be x.
void rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t width, float eps, cudaStream_t stream);

// h += a, then y = rms_norm(h)·w over rows of `width`: add_inplace then rms_norm in one launch,
// bit for bit (the residual add and the norm after it).
void add_rms_norm(float* h, const float* a, const float* w, float* y, int64_t rows, int64_t width, float eps,
                  cudaStream_t stream);

// out = x·rsqrt(mean(x²) + eps)·w·silu(z) over rows of `dim` (DeltaNet's output norm); out may be x.
void gated_rms_norm(const float* x, const float* z, const float* w, int64_t rows, int64_t dim, float eps, float* out,
                    cudaStream_t stream);

// NeoX rotary embedding of the first rot_dim dims of each head of x [n, heads, head_dim], token t
// at position pos0 + t; angles in double, as the CPU's rope_neox.
void rope_neox(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim, int64_t pos0, float theta,
               cudaStream_t stream);

// out[i] = silu(gate[i]) · up[i] (SwiGLU); out may be gate or up.
void silu_mul(const float* gate, const float* up, float* out, int64_t count, cudaStream_t stream);

// x[r, j] *= sigmoid(gate[r, j / (width / gate_width)]) for x [rows, width], gate [rows,
// gate_width], gate_width dividing width: 1 for the shared expert's scalar gate, width for
// attention's output gate.
void sigmoid_gate_mul(float* x, const float* gate, int64_t rows, int64_t width, int64_t gate_width,
                      cudaStream_t stream);

// y[r, j] += x[r, j] · sigmoid(gate[r]) for x, y [rows, width] (the shared expert's scalar
// gate): sigmoid_gate_mul of a copy of x, then add_inplace, in one launch and bit for bit.
void add_sigmoid_gated(float* y, const float* x, const float* gate, int64_t rows, int64_t width, cudaStream_t stream);

// y[i] += x[i] (the residual stream).
void add_inplace(float* y, const float* x, int64_t count, cudaStream_t stream);

// dst[r, j] = src[r, map[j]] for src [rows, src_cols], dst [rows, dst_cols]; map entries < src_cols.
void gather_columns(const float* src, int64_t rows, int64_t src_cols, const int32_t* map, int64_t dst_cols, float* dst,
                    cudaStream_t stream);

// ---- attention (attention.cu) -------------------------------------------------------------------

// One layer's KV cache for one sequence, laid out and encoded as the CPU's KvCache
// (model/attention.h), byte for byte: k [capacity, kv_heads, row], a row being head_dim values
// (f32, f16) or the head's values zero-padded to whole Q8_0 blocks; v transposed [kv_heads,
// head_dim, capacity] for f32 and f16, laid out as k for Q8_0. Why each layout: the kernels'
// V loop gives each lane a head dim and walks positions, so transposed f32/f16 V rows are read
// along memory, and Q8_0 V rows put a warp's 32 lanes on one block (its scale read once, its
// levels in one transaction), where a block along positions would be requantised as each token
// arrives (model/attention.h says the same for the CPU).
struct KvCacheView {
    void* k = nullptr;
    void* v = nullptr;
    int64_t capacity = 0, kv_heads = 0, head_dim = 0;
    KvCacheType type = KvCacheType::F32;
};

// Bytes of one of a KvCacheView's k and v.
size_t kv_cache_side_bytes(KvCacheType type, int64_t capacity, int64_t kv_heads, int64_t head_dim);

// Largest head_dim the attention kernel takes.
inline constexpr int64_t kMaxHeadDim = 256;

// Floats of scratch attention and attention_grouped need for n tokens from pos0 (0 when the
// positions are not split: then scratch may be null). Both split alike: enough ranges of
// positions for the grouped kernel's blocks, one per KV head, to fill the card.
size_t attention_scratch_floats(int64_t n, int64_t pos0, int64_t heads, int64_t kv_heads, int64_t head_dim);

// Stores k, v [n, kv_heads, head_dim] at positions pos0.. and computes causal GQA attention of
// q [n, heads, head_dim] over positions 0..pos0+t, scale 1/sqrt(head_dim), softmax with the
// running maximum: out [n, heads, head_dim]. As the CPU's attention(). Few tokens (decode) split
// their positions over several blocks, whose partial sums go to scratch.
void attention(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
               const KvCacheView& cache, float* out, float* scratch, cudaStream_t stream);

// k, v [n, kv_heads, head_dim] stored at positions pos0.. of the cache in its type: f16 rounded
// to nearest even, Q8_0 quantised as the CPU's store_row (q8_arith.h quantize_kv_block_q8_0).
// attention does this itself; rope_neox_store_kv calls it for Q8_0 caches.
void store_kv(const float* k, const float* v, int64_t n, int64_t pos0, const KvCacheView& cache, cudaStream_t stream);

// attention, with both kernels (many tokens, few tokens) reading each K and V row once for the 2,
// 4 or 8 query heads that share it (head_dim ≤ 128; a decode launch that would have too few
// blocks gives each 2 or 4 of them), bit for bit attention's outputs; other shapes as attention. k and v null: positions pos0.. are already in the cache
// (rope_neox_store_kv).
void attention_grouped(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
                       const KvCacheView& cache, float* out, float* scratch, cudaStream_t stream);

// rope_neox of q [n, heads, D] and k [n, kv_heads, D] (in place, bit for bit), and k and v
// stored at positions pos0.. of the cache as attention stores them, in one launch (rope.cu).
void rope_neox_store_kv(float* q, float* k, const float* v, int64_t n, int64_t heads, const KvCacheView& cache,
                        int64_t rot_dim, int64_t pos0, float theta, cudaStream_t stream);

// rms_norm of each head of q and k (weights q_norm, k_norm [head_dim]), then rope_neox_store_kv,
// in one launch and bit for bit (Qwen3's per-head q and k norms).
void rms_norm_rope_neox_store_kv(float* q, float* k, const float* v, int64_t n, int64_t heads,
                                 const KvCacheView& cache, const float* q_norm, const float* k_norm, float eps,
                                 int64_t rot_dim, int64_t pos0, float theta, cudaStream_t stream);

// ---- Gated DeltaNet (deltanet.cu) ----------------------------------------------------------------

// kernels/deltanet.h's DeltaNetDims and weights in plain types (that header is C++20; this one
// is also compiled by nvcc in C++17).
struct DeltaNetShape {
    int n_k_heads = 0, n_v_heads = 0, k_dim = 0, v_dim = 0, conv_kernel = 0;
    bool tiled_v_heads = false;  // v-head h reads q/k head h % nk (else h / (nv/nk))
    int64_t key_dim() const { return int64_t(n_k_heads) * k_dim; }
    int64_t value_dim() const { return int64_t(n_v_heads) * v_dim; }
    int64_t conv_dim() const { return 2 * key_dim() + value_dim(); }
};
struct DeltaNetDeviceWeights {
    const float* conv = nullptr;     // [conv_dim, Kc]
    const float* A = nullptr;        // [nv]: A_log when a_is_log, else −exp(A_log) as stored in GGUF
    bool a_is_log = true;
    const float* dt_bias = nullptr;  // [nv]
};
// A sequence's state in one layer: conv [Kc−1, conv_dim] (oldest first), recurrent S [nv, dk, dv].
struct DeltaNetDeviceState {
    float* conv = nullptr;
    float* recurrent = nullptr;
};

// Largest conv kernel and k_dim the DeltaNet kernels take.
inline constexpr int kMaxConvKernel = 8;
inline constexpr int kMaxDeltaNetKeyDim = 256;

// Floats of scratch deltanet_forward needs for T tokens.
size_t deltanet_scratch_floats(const DeltaNetShape& shape, int64_t T);

// As the CPU's deltanet_forward: out [T, nv·dv] = the gated delta rule's output for mixed_qkv
// [T, conv_dim], a and b [T, nv], continuing from `state` and advancing it; token by token.
void deltanet_forward(const DeltaNetShape& shape, const DeltaNetDeviceWeights& weights,
                      const DeltaNetDeviceState& state, int64_t T, const float* mixed_qkv, const float* a,
                      const float* b, float* out, float* scratch, cudaStream_t stream);

// ---- MoE (moe.cu) ----------------------------------------------------------------------------------

// Softmax over router logits [n, E], the top k (ties: lower id first), weights renormalised to
// sum to 1 when `normalize`: ids [n, k], weights [n, k]. As the CPU's route_top_k.
void route_top_k(const float* logits, int64_t n, int64_t n_experts, int64_t k, bool normalize, int32_t* ids,
                 float* weights, cudaStream_t stream);

// One layer's routed experts: device arrays of E pointers to each expert's gate and up
// [inter, hidden] (type gate_up_type) and down [hidden, inter] (type down_type) weights.
struct MoeExpertTable {
    const void* const* gate = nullptr;
    const void* const* up = nullptr;
    const void* const* down = nullptr;
    GgmlType gate_up_type = GgmlType::F32, down_type = GgmlType::F32;
    int64_t hidden = 0, inter = 0;
};

// Most experts per token moe_decode takes.
inline constexpr int64_t kMaxDecodeExperts = 64;

// Decode MoE for one token with no host round trip (capturable in a CUDA graph), 1 ≤ k ≤
// kMaxDecodeExperts:
// out[hidden] += Σ_j weights[j] · down_{ids[j]}(silu(gate_{ids[j]} x) ⊙ up_{ids[j]} x), j < k,
// summed in the order of j. scratch: k·inter floats.
void moe_decode(const MoeExpertTable& experts, const int32_t* ids, const float* weights, int64_t k, const float* x,
                float* out, float* scratch, cudaStream_t stream);

// moe_decode on 8-bit activations (moe_q8.cu): x and each expert's SwiGLU output quantised as the
// CPU quantises them, the products in integers. Both weight types must have has_q8_kernel. xq:
// x already quantised for gate_up_type (the router's product made it), or null to quantise it
// here. scratch: moe_decode_q8_scratch_bytes bytes.
size_t moe_decode_q8_scratch_bytes(const MoeExpertTable& experts, int64_t k);
void moe_decode_q8(const MoeExpertTable& experts, const int32_t* ids, const float* weights, int64_t k, const float* x,
                   const void* xq, float* out, void* scratch, cudaStream_t stream);

// ---- batched MoE (moe_batch.cu): tokens grouped by expert on the host -------------------------

// dst[i, :] = src[rows[i], :] for i < count; src and dst have `cols` columns.
void gather_rows(const float* src, int64_t cols, const int32_t* rows, int64_t count, float* dst, cudaStream_t stream);

// out[t, :] += Σ_j weights[t·k + j] · y[at[t·k + j], :] for t < n, the terms added in the order j.
void moe_combine(const float* y, const int32_t* at, const float* weights, int64_t n, int64_t k, int64_t cols, float* out,
                 cudaStream_t stream);

}  // namespace sluice::cuda
