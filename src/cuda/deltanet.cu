// Gated DeltaNet on the device (the CPU's kernels/deltanet.cpp, model-spec §B.4): causal
// depthwise conv1d + SiLU with its rolling state, q/k L2 norm, the decay and beta gates, and the
// delta rule token by token with the state in registers (for prefill too: a chunked form on
// tensor cores is later work). Scratch holds u [T, conv_dim] (post-conv q|k|v), decay [T, nv]
// and beta [T, nv].
#include <cmath>

#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

namespace {

constexpr int kNormThreads = 128;
constexpr int kRuleRows = 16;                                   // rows of S per thread in the delta rule
constexpr int kRuleWarps = kMaxDeltaNetKeyDim / kRuleRows;     // warps per block at the largest dk

// One thread per channel walks the tokens with the last Kc inputs in registers, then leaves the
// last Kc−1 inputs as the new state.
__global__ void conv_silu_kernel(const float* mixed, const float* taps, int64_t T, int64_t channels, int kc,
                                 float* conv_state, float* u) {
    const int64_t ch = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (ch >= channels) return;
    float w[kMaxConvKernel], window[kMaxConvKernel];
#pragma unroll
    for (int j = 0; j < kMaxConvKernel; ++j) {
        w[j] = j < kc ? taps[ch * kc + j] : 0.0f;
        window[j] = j < kc - 1 ? conv_state[j * channels + ch] : 0.0f;
    }
    for (int64_t t = 0; t < T; ++t) {
        const float x = mixed[t * channels + ch];
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < kMaxConvKernel; ++j)
            if (j < kc) s += w[j] * (j == kc - 1 ? x : window[j]);
        u[t * channels + ch] = silu_dev(s);
#pragma unroll
        for (int j = 0; j + 1 < kMaxConvKernel; ++j)  // shift in x
            if (j < kc - 1) window[j] = j + 1 < kc - 1 ? window[j + 1] : x;
    }
#pragma unroll
    for (int j = 0; j < kMaxConvKernel; ++j)
        if (j < kc - 1) conv_state[j * channels + ch] = window[j];
}

// Block (t, i): head i < nk is q head i (also scaled by 1/√dk), else k head i − nk.
__global__ void qk_norm_kernel(float* u, int64_t channels, int nk, int dk) {
    const int i = blockIdx.y;
    float* x = u + int64_t(blockIdx.x) * channels + int64_t(i) * dk;  // k heads follow the q heads
    float ss = 0.0f;
    for (int d = threadIdx.x; d < dk; d += blockDim.x) ss += x[d] * x[d];
    ss = block_sum(ss);
    const float s = (i < nk ? 1.0f / sqrtf(float(dk)) : 1.0f) / sqrtf(ss + 1e-6f);
    for (int d = threadIdx.x; d < dk; d += blockDim.x) x[d] *= s;
}

__device__ inline float softplus_dev(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

// decay = exp(A·softplus(a + dt_bias)), A = −exp(A_log) or as stored; beta = sigmoid(b).
__global__ void gates_kernel(const float* a, const float* b, const float* A, bool a_is_log, const float* dt_bias,
                             int64_t count, int nv, float* decay, float* beta) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= count) return;
    const int h = int(i % nv);
    const float Ah = a_is_log ? -expf(A[h]) : A[h];
    decay[i] = expf(Ah * softplus_dev(a[i] + dt_bias[h]));
    beta[i] = sigmoid_dev(b[i]);
}

// Block (v-head h, tile of 32 value columns): lane j holds column j of S_h [dk, dv] in registers,
// warp w its rows 16w..16w+15, for all T tokens, so S is read and written once per call, not per
// token (prefill walks tokens one by one: this loop is its critical path). Per token:
// m = Sᵀk, δ = β(v − decay·m), S = decay·S + k δᵀ, o = Sᵀq (as the CPU's recurrent_rule), the
// sums over rows taken per warp and then across warps in shared memory.
__global__ void delta_rule_kernel(const float* u, const float* decay, const float* beta, int64_t T, int64_t channels,
                                  int nk, int nv, int dk, int dv, bool tiled, float* S_all, float* out) {
    __shared__ float qs[kMaxDeltaNetKeyDim], ks[kMaxDeltaNetKeyDim];
    __shared__ float m_part[kRuleWarps][kWarp], o_part[kRuleWarps][kWarp];
    const int h = blockIdx.x, lane = threadIdx.x, w = threadIdx.y, warps = blockDim.y;
    const int tid = w * kWarp + lane, threads = warps * kWarp;
    const int j = blockIdx.y * kWarp + lane;
    const int kh = tiled ? h % nk : h / (nv / nk);
    const int64_t key_dim = int64_t(nk) * dk, value_dim = int64_t(nv) * dv;
    float* S = S_all + int64_t(h) * dk * dv;
    float s[kRuleRows];
#pragma unroll
    for (int r = 0; r < kRuleRows; ++r) {
        const int i = w * kRuleRows + r;
        s[r] = i < dk && j < dv ? S[int64_t(i) * dv + j] : 0.0f;
    }
    for (int64_t t = 0; t < T; ++t) {
        const float* qt = u + t * channels + int64_t(kh) * dk;
        for (int i = tid; i < dk; i += threads) {
            qs[i] = qt[i];
            ks[i] = qt[key_dim + i];
        }
        __syncthreads();  // q and k staged; the previous token's readers of m_part/o_part are done
        float m = 0.0f;
#pragma unroll
        for (int r = 0; r < kRuleRows; ++r) {
            const int i = w * kRuleRows + r;
            if (i < dk) m += s[r] * ks[i];
        }
        m_part[w][lane] = m;
        __syncthreads();
        m = 0.0f;
        for (int v = 0; v < warps; ++v) m += m_part[v][lane];
        const float dec = decay[t * nv + h], bt = beta[t * nv + h];
        const float vj = j < dv ? u[t * channels + 2 * key_dim + int64_t(h) * dv + j] : 0.0f;
        const float delta = bt * (vj - dec * m);
        float o = 0.0f;
#pragma unroll
        for (int r = 0; r < kRuleRows; ++r) {
            const int i = w * kRuleRows + r;
            if (i < dk) {
                s[r] = dec * s[r] + ks[i] * delta;
                o += s[r] * qs[i];
            }
        }
        o_part[w][lane] = o;
        __syncthreads();  // also: every reader of qs/ks is done before the next token stages them
        if (w == 0 && j < dv) {
            float sum = 0.0f;
            for (int v = 0; v < warps; ++v) sum += o_part[v][lane];
            out[t * value_dim + int64_t(h) * dv + j] = sum;
        }
    }
#pragma unroll
    for (int r = 0; r < kRuleRows; ++r) {
        const int i = w * kRuleRows + r;
        if (i < dk && j < dv) S[int64_t(i) * dv + j] = s[r];
    }
}

}  // namespace

size_t deltanet_scratch_floats(const DeltaNetShape& shape, int64_t T) {
    return size_t(T) * size_t(shape.conv_dim() + 2 * shape.n_v_heads);
}

void deltanet_forward(const DeltaNetShape& d, const DeltaNetDeviceWeights& weights, const DeltaNetDeviceState& state,
                      int64_t T, const float* mixed_qkv, const float* a, const float* b, float* out, float* scratch,
                      cudaStream_t stream) {
    const char* op = "deltanet_forward";
    check_positive(op, "n_k_heads", d.n_k_heads);
    check_positive(op, "n_v_heads", d.n_v_heads);
    check_positive(op, "v_dim", d.v_dim);
    check_non_negative(op, "T", T);
    if (d.n_v_heads % d.n_k_heads != 0)
        throw_error(std::string(op) + ": value heads (" + std::to_string(d.n_v_heads) +
                    ") must be a multiple of key heads (" + std::to_string(d.n_k_heads) + ")");
    if (d.k_dim <= 0 || d.k_dim > kMaxDeltaNetKeyDim)
        throw_error(std::string(op) + ": k_dim " + std::to_string(d.k_dim) + " (1.." +
                    std::to_string(kMaxDeltaNetKeyDim) + ")");
    if (d.conv_kernel <= 0 || d.conv_kernel > kMaxConvKernel)
        throw_error(std::string(op) + ": conv kernel " + std::to_string(d.conv_kernel) + " (1.." +
                    std::to_string(kMaxConvKernel) + ")");
    if (T == 0) return;
    const int64_t cd = d.conv_dim(), nv = d.n_v_heads;
    float* u = scratch;
    float* decay = u + T * cd;
    float* beta = decay + T * nv;

    conv_silu_kernel<<<element_blocks(cd), kElementThreads, 0, stream>>>(mixed_qkv, weights.conv, T, cd,
                                                                          d.conv_kernel, state.conv, u);
    SLUICE_CUDA_CHECK_LAUNCH("conv_silu_kernel");
    qk_norm_kernel<<<dim3(unsigned(T), unsigned(2 * d.n_k_heads)), kNormThreads, 0, stream>>>(u, cd, d.n_k_heads,
                                                                                              d.k_dim);
    SLUICE_CUDA_CHECK_LAUNCH("qk_norm_kernel");
    gates_kernel<<<element_blocks(T * nv), kElementThreads, 0, stream>>>(a, b, weights.A, weights.a_is_log,
                                                                         weights.dt_bias, T * nv, d.n_v_heads, decay,
                                                                         beta);
    SLUICE_CUDA_CHECK_LAUNCH("gates_kernel");
    const dim3 grid(unsigned(nv), unsigned((d.v_dim + kWarp - 1) / kWarp));
    const dim3 block(kWarp, unsigned((d.k_dim + kRuleRows - 1) / kRuleRows));
    delta_rule_kernel<<<grid, block, 0, stream>>>(u, decay, beta, T, cd, d.n_k_heads, d.n_v_heads, d.k_dim,
                                                         d.v_dim, d.tiled_v_heads, state.recurrent, out);
    SLUICE_CUDA_CHECK_LAUNCH("delta_rule_kernel");
}

}  // namespace sluice::cuda
