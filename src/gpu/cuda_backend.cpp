#include "gpu/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

#include "cuda/device_buffer.h"
#include "cuda/kernels.h"
#include "gpu/cuda_experts.h"
#include "gpu/kernel_choice.h"
#include "model/blocks.h"
#include "util/error.h"

namespace sluice {

namespace {

class CudaKvCache : public LayerState {
public:
    // K and V in `type`, laid out as the CPU's (cuda/kernels.h KvCacheView). Capacity rounded up
    // to a multiple of 4 positions: the decode kernel then reads f32 and f16 V rows (transposed,
    // [kv_heads·head_dim, capacity]) four positions at a time.
    CudaKvCache(int64_t capacity, int64_t kv_heads, int64_t head_dim, KvCacheType type)
        : k(cuda::kv_cache_side_bytes(type, (capacity + 3) / 4 * 4, kv_heads, head_dim)), v(k.size()) {
        if (head_dim > cuda::kMaxHeadDim) fail("attention head size {} exceeds the GPU kernel's {}", head_dim, cuda::kMaxHeadDim);
        view = {k.get(), v.get(), (capacity + 3) / 4 * 4, kv_heads, head_dim, type};
    }
    uint64_t bytes() const override { return k.size() + v.size(); }
    void reset() override {}   // positions past n_past are never read; they are overwritten first
    std::vector<float> checkpoint() const override { return {}; }
    void restore(std::span<const float>) override {}
    cuda::DeviceBuffer<uint8_t> k, v;
    cuda::KvCacheView view;
};

class CudaDeltaNetState : public LayerState {
public:
    explicit CudaDeltaNetState(const DeltaNetDims& d)
        : conv(size_t(d.conv_kernel - 1) * size_t(d.conv_dim())),
          recurrent(size_t(d.n_v_heads) * size_t(d.k_dim) * size_t(d.v_dim)) {
        d.validate();
        if (d.conv_kernel > cuda::kMaxConvKernel || d.k_dim > cuda::kMaxDeltaNetKeyDim)
            fail("linear attention with conv kernel {} and key size {} exceeds the GPU kernels' {} and {}", d.conv_kernel,
                 d.k_dim, cuda::kMaxConvKernel, cuda::kMaxDeltaNetKeyDim);
        reset();
    }
    uint64_t bytes() const override { return (conv.size() + recurrent.size()) * sizeof(float); }
    void reset() override {
        if (conv.size()) SLUICE_CUDA_CHECK(cudaMemset(conv.get(), 0, conv.size() * sizeof(float)));
        SLUICE_CUDA_CHECK(cudaMemset(recurrent.get(), 0, recurrent.size() * sizeof(float)));
    }
    std::vector<float> checkpoint() const override {
        std::vector<float> saved(conv.size() + recurrent.size());
        if (conv.size()) SLUICE_CUDA_CHECK(cudaMemcpy(saved.data(), conv.get(), conv.size() * sizeof(float), cudaMemcpyDeviceToHost));
        SLUICE_CUDA_CHECK(cudaMemcpy(saved.data() + conv.size(), recurrent.get(), recurrent.size() * sizeof(float),
                                     cudaMemcpyDeviceToHost));
        return saved;
    }
    void restore(std::span<const float> saved) override {
        if (saved.size() != conv.size() + recurrent.size())
            fail("internal: a DeltaNet checkpoint of {} values for a state of {}", saved.size(), conv.size() + recurrent.size());
        if (conv.size()) SLUICE_CUDA_CHECK(cudaMemcpy(conv.get(), saved.data(), conv.size() * sizeof(float), cudaMemcpyHostToDevice));
        SLUICE_CUDA_CHECK(cudaMemcpy(recurrent.get(), saved.data() + conv.size(), recurrent.size() * sizeof(float),
                                     cudaMemcpyHostToDevice));
    }
    cuda::DeviceBuffer<float> conv, recurrent;
};

template <class T>
T& state_as(LayerState& s, const char* what) {
    auto* p = dynamic_cast<T*>(&s);
    if (!p) fail("internal: the CUDA backend was given a {} it did not make", what);
    return *p;
}

// Scratch in device memory as a stack: allocations bump through chunks that are allocated as
// needed and kept, so after the first forward of a size nothing is allocated any more.
class DeviceArena {
public:
    void* alloc(size_t bytes) {
        bytes = (bytes + 255) / 256 * 256;
        size_t c = stack_.empty() ? 0 : stack_.back().chunk;
        size_t at = stack_.empty() ? 0 : stack_.back().end;
        for (;; ++c, at = 0) {
            if (c == chunks_.size())
                chunks_.emplace_back(std::max(bytes, chunks_.empty() ? size_t(64) << 20 : 2 * chunks_.back().size()));
            if (at + bytes <= chunks_[c].size()) break;
        }
        stack_.push_back({c, at + bytes});
        return chunks_[c].get() + at;
    }
    size_t mark() const { return stack_.size(); }
    void release(size_t mark) { stack_.resize(mark); }

private:
    struct Top {
        size_t chunk, end;
    };
    std::vector<cuda::DeviceBuffer<uint8_t>> chunks_;
    std::vector<Top> stack_;
};

class CudaBackend : public Backend {
public:
    explicit CudaBackend(int device) : kernels_(gpu_kernel_choice()) {
        int count = 0;
        if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) fail("--gpu: no CUDA device found");
        if (device < 0 || device >= count) fail("--gpu {}: this machine has {} CUDA device(s), 0..{}", device, count, count - 1);
        SLUICE_CUDA_CHECK(cudaSetDevice(device));
        SLUICE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        SLUICE_CUBLAS_CHECK(cublasCreate(&cublas_));
        SLUICE_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    }
    ~CudaBackend() override {
        cublasDestroy(cublas_);
        cudaStreamDestroy(stream_);
    }

    const char* name() const override { return "cuda"; }

    Weight weight(const Weight& host, const std::string& name) override {
        if (host.layout != Layout::Rows) fail("internal: {} is interleaved for the CPU; the GPU reads the file layout", name);
        if (!cuda::has_kernel(host.type))
            fail("{} has type {}, which has no CUDA kernel yet", name, type_name(host.type));
        auto& buf = weights_.emplace_back(host.bytes());
        SLUICE_CUDA_CHECK(cudaMemcpy(buf.get(), host.data, host.bytes(), cudaMemcpyHostToDevice));
        return Weight{host.type, buf.get(), host.rows, host.cols};
    }
    Vec vec(std::span<const float> host) override {
        auto& buf = vectors_.emplace_back(std::vector<float>(host.begin(), host.end()));
        return {buf.get(), int64_t(host.size())};
    }
    Index index(std::span<const int32_t> host) override {
        auto& buf = indices_.emplace_back(std::vector<int32_t>(host.begin(), host.end()));
        return {buf.get(), int64_t(host.size())};
    }

    // The GPU attention kernels (cuda/attention.cu) read f32, f16 and Q8_0 caches as stored.
    std::unique_ptr<LayerState> kv_cache(int64_t capacity, int64_t kv_heads, int64_t head_dim,
                                         KvCacheType type) override {
        return std::make_unique<CudaKvCache>(capacity, kv_heads, head_dim, type);
    }
    std::unique_ptr<LayerState> deltanet_state(const DeltaNetDims& dims) override {
        return std::make_unique<CudaDeltaNetState>(dims);
    }

    std::unique_ptr<LayerState> latent_cache(int64_t, int64_t, int64_t, KvCacheType) override {
        fail("multi-head latent attention (DeepSeek-V3) is not supported on the GPU yet");
    }

    Act act(int64_t rows, int64_t cols) override {
        return {static_cast<float*>(arena_.alloc(size_t(rows * cols) * sizeof(float))), rows, cols};
    }

    void embed(const Weight& table, std::span<const int32_t> tokens, Act out) override {
        for (int32_t t : tokens)
            if (t < 0 || t >= table.rows) fail("token id {} is outside the vocabulary (0..{})", t, table.rows - 1);
        Frame frame(*this);
        int32_t* ids = upload(tokens);
        cuda::dequantize_rows(table.type, table.data, table.cols, ids, int64_t(tokens.size()), out.data, stream_);
    }
    void rms_norm(Act x, Vec w, Act y, float eps) override {
        cuda::rms_norm(x.data, w.data, y.data, x.size() / w.n, w.n, eps, stream_);
    }
    void matmul(const Weight& w, Act x, Act y) override {
        if (x.rows <= cuda::kMaxMatvecRows) {
            const cuda::MatvecTarget target{w.data, w.rows, y.data};
            matvec(w.type, &target, 1, w.cols, x);
            return;
        }
        Frame frame(*this);
        if (kernels_.new_prefill && cuda::has_mmq_kernel(w.type)) {
            void* xq = arena_.alloc(cuda::q8_activation_bytes(w.type, x.rows, w.cols));
            cuda::quantize_activations(w.type, x.data, x.rows, w.cols, xq, stream_);
            cuda::mmq(w.type, nullptr, w.data, nullptr, 0, x.rows, w.rows, w.cols, xq, y.data, stream_);
            return;
        }
        // Dequantised slices of at most 256 MiB: the output head of a large vocabulary would
        // otherwise need its whole matrix in F16 at once.
        const size_t bytes = std::min(cuda::matmul_prefill_scratch_bytes(w.type, w.rows, w.cols, x.rows), size_t(256) << 20);
        void* scratch = arena_.alloc(bytes);
        cuda::matmul_prefill(cublas_, w.type, w.data, w.rows, w.cols, x.data, x.rows, y.data, scratch, bytes, stream_);
    }
    void matmul_shared(std::span<const Weight* const> ws, Act x, std::span<const Act> ys) override {
        if (x.rows > cuda::kMaxMatvecRows) {
            for (size_t i = 0; i < ws.size(); ++i) matmul(*ws[i], x, ys[i]);
            return;
        }
        // Decode: weights of one type and row length in one launch (their rows together fill the
        // card where each alone would not), and x quantised once for all that read the same 8-bit
        // activations (Q4_K's q and k and a Q6_K v, say: llama.cpp's Q4_K_M files mix them).
        Frame frame(*this);
        struct Quantised {
            const void* data = nullptr;
            int64_t cols = 0;
        } xq[2];   // x as Q8_K, as Q8_0
        std::vector<bool> done(ws.size());
        for (size_t i = 0; i < ws.size(); ++i) {
            if (done[i]) continue;
            const Weight& w = *ws[i];
            cuda::MatvecTarget targets[cuda::kMaxMatvecTargets];
            int count = 0;
            for (size_t j = i; j < ws.size() && count < cuda::kMaxMatvecTargets; ++j)
                if (!done[j] && ws[j]->type == w.type && ws[j]->cols == w.cols) {
                    targets[count++] = {ws[j]->data, ws[j]->rows, ys[j].data};
                    done[j] = true;
                }
            if (!kernels_.new_decode || !cuda::has_q8_kernel(w.type)) {
                matvec(w.type, targets, count, w.cols, x);
                continue;
            }
            Quantised& q = xq[w.type == GgmlType::Q8_0 ? 1 : 0];
            if (!q.data || q.cols != w.cols) q = {quantised(w.type, x, w.cols), w.cols};
            cuda::matvec_q8(w.type, targets, count, w.cols, q.data, x.rows, stream_);
        }
    }
    void copy_rows(Act src, int64_t src_row, Act dst, int64_t dst_row, int64_t count) override {
        SLUICE_CUDA_CHECK(cudaMemcpyAsync(dst.data + dst_row * dst.cols, src.data + src_row * src.cols,
                                          size_t(count * src.cols) * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
    }
    void add(Act y, Act x) override { cuda::add_inplace(y.data, x.data, y.size(), stream_); }
    void add_rms_norm(Act h, Act a, Vec w, Act y, float eps) override {
        if (!kernels_.new_decode) {
            Backend::add_rms_norm(h, a, w, y, eps);
            return;
        }
        cuda::add_rms_norm(h.data, a.data, w.data, y.data, h.size() / w.n, w.n, eps, stream_);
    }
    void add_bias(Act, Vec) override { fail("biases (gpt-oss, GLM-4.5) are not supported on the GPU yet"); }
    void rope_pairs(Act, int64_t, const RotaryTable&, int64_t) override {
        fail("RoPE by frequency table (YaRN, DeepSeek-V3) is not supported on the GPU yet");
    }
    void matmul_per_head(std::span<const Weight>, Act, Act) override {
        fail("per-head products (DeepSeek-V3's latent attention) are not supported on the GPU yet");
    }
    void latent_attention(Act, Act, Act, Act, LayerState&, int64_t, float, Act) override {
        fail("multi-head latent attention (DeepSeek-V3) is not supported on the GPU yet");
    }
    void mul_sigmoid(Act y, Act gate) override {
        cuda::sigmoid_gate_mul(y.data, gate.data, y.rows, y.cols, gate.cols, stream_);
    }
    void add_gated(Act y, Act x, Act gate) override {
        if (kernels_.new_decode) {
            cuda::add_sigmoid_gated(y.data, x.data, gate.data, x.rows, x.cols, stream_);
            return;
        }
        Frame frame(*this);
        Act t = act(x.rows, x.cols);
        SLUICE_CUDA_CHECK(cudaMemcpyAsync(t.data, x.data, size_t(x.size()) * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
        cuda::sigmoid_gate_mul(t.data, gate.data, t.rows, t.cols, 1, stream_);
        cuda::add_inplace(y.data, t.data, y.size(), stream_);
    }
    void gather_cols(Act src, Index map, Act dst) override {
        cuda::gather_columns(src.data, src.rows, src.cols, map.data, map.n, dst.data, stream_);
    }
    void rope_neox(Act x, int64_t heads, int64_t rot_dim, int64_t pos0, float theta) override {
        cuda::rope_neox(x.data, x.rows, heads, x.cols / heads, rot_dim, pos0, theta, stream_);
    }
    void rope_halves(Act, int64_t, const RotaryTable&, int64_t) override {
        fail("RoPE by frequency table (YaRN, gpt-oss) is not supported on the GPU yet");
    }
    void attention_sinks(Act, Act, Act, LayerState&, int64_t, Vec, int64_t, Act) override {
        fail("attention sinks and sliding windows (gpt-oss) are not supported on the GPU yet");
    }
    void attention(Act q, Act k, Act v, LayerState& cache, int64_t pos0, Act out) override {
        const cuda::KvCacheView& c = state_as<CudaKvCache>(cache, "KV cache").view;
        const int64_t heads = q.cols / c.head_dim;
        Frame frame(*this);
        auto* scratch = static_cast<float*>(
            arena_.alloc(cuda::attention_scratch_floats(q.rows, pos0, heads, c.kv_heads, c.head_dim) * sizeof(float)));
        if (kernels_.new_decode)
            cuda::attention_grouped(q.data, k.data, v.data, q.rows, pos0, heads, c, out.data, scratch, stream_);
        else
            cuda::attention(q.data, k.data, v.data, q.rows, pos0, heads, c, out.data, scratch, stream_);
    }
    // New kernels: q's and k's norms, rotations and the cache store in one launch, then attention.
    void rope_neox_attention(Act q, Act k, Act v, int64_t heads, int64_t kv_heads, const QkNorm& norm, int64_t rot_dim,
                             int64_t pos0, float theta, LayerState& cache, Act out) override {
        if (!kernels_.new_decode) {
            Backend::rope_neox_attention(q, k, v, heads, kv_heads, norm, rot_dim, pos0, theta, cache, out);
            return;
        }
        const cuda::KvCacheView& c = state_as<CudaKvCache>(cache, "KV cache").view;
        if (kv_heads != c.kv_heads || q.cols != heads * c.head_dim)
            fail("internal: attention of {} x {} heads over a cache of {} x {}", heads, q.cols / std::max<int64_t>(heads, 1),
                 c.kv_heads, c.head_dim);
        if (norm.active()) {
            if (norm.q.n != c.head_dim || norm.k.n != c.head_dim)
                fail("internal: q and k norms of {} and {} values for heads of {}", norm.q.n, norm.k.n, c.head_dim);
            cuda::rms_norm_rope_neox_store_kv(q.data, k.data, v.data, q.rows, heads, c, norm.q.data, norm.k.data,
                                              norm.eps, rot_dim, pos0, theta, stream_);
        } else {
            cuda::rope_neox_store_kv(q.data, k.data, v.data, q.rows, heads, c, rot_dim, pos0, theta, stream_);
        }
        Frame frame(*this);
        auto* scratch = static_cast<float*>(
            arena_.alloc(cuda::attention_scratch_floats(q.rows, pos0, heads, c.kv_heads, c.head_dim) * sizeof(float)));
        cuda::attention_grouped(q.data, nullptr, nullptr, q.rows, pos0, heads, c, out.data, scratch, stream_);
    }
    void deltanet(const DeltaNetParams& p, LayerState& state, Act mixed, Act a, Act b, Act out) override {
        auto& s = state_as<CudaDeltaNetState>(state, "recurrent state");
        cuda::DeltaNetShape shape;
        shape.n_k_heads = p.dims.n_k_heads;
        shape.n_v_heads = p.dims.n_v_heads;
        shape.k_dim = p.dims.k_dim;
        shape.v_dim = p.dims.v_dim;
        shape.conv_kernel = p.dims.conv_kernel;
        shape.tiled_v_heads = p.dims.tiled_v_heads;
        cuda::DeltaNetDeviceWeights w;
        w.conv = p.conv.data;
        w.A = p.a.data;
        w.a_is_log = p.a_form == DecayForm::ALog;
        w.dt_bias = p.dt_bias.data;
        Frame frame(*this);
        float* scratch = static_cast<float*>(arena_.alloc(cuda::deltanet_scratch_floats(shape, mixed.rows) * sizeof(float)));
        cuda::deltanet_forward(shape, w, {s.conv.get(), s.recurrent.get()}, mixed.rows, mixed.data, a.data, b.data,
                               out.data, scratch, stream_);
    }
    void gated_rms_norm(Act x, Act z, Vec w, float eps, Act out) override {
        cuda::gated_rms_norm(x.data, z.data, w.data, x.size() / w.n, w.n, eps, out.data, stream_);
    }
    void swiglu(const Weight& gate, const Weight& up, const Weight& down, Act x, Act out) override {
        Frame frame(*this);
        Act g = act(x.rows, gate.rows), u = act(x.rows, up.rows);
        if (kernels_.new_decode) {
            const Weight* gate_up[] = {&gate, &up};
            const Act gate_up_out[] = {g, u};
            matmul_shared(gate_up, x, gate_up_out);   // decode: one quantisation, one launch
        } else {
            matmul(gate, x, g);
            matmul(up, x, u);
        }
        cuda::silu_mul(g.data, u.data, g.data, g.size(), stream_);
        matmul(down, g, out);
    }

    void moe(const Weight& router, const MoeRouting& routing, ExpertSource& experts, int64_t layer, Act x,
             Act out) override {
        auto* gpu = dynamic_cast<CudaExperts*>(&experts);
        if (!gpu) fail("--gpu needs every expert in VRAM (CudaExperts); VRAM tiers over RAM and disk come later");
        if (routing.gating == Gating::Sigmoid)
            fail("sigmoid expert gating (DeepSeek-V3, GLM-4.5) is not supported on the GPU yet");
        if (routing.gating != Gating::Softmax || !routing.logit_bias.empty() || routing.experts.active())
            fail("gpt-oss's expert routing, biases and clamped SwiGLU are not supported on the GPU yet");
        const int64_t n = x.rows, E = router.rows, K = routing.n_used;
        Frame frame(*this);
        Act logits = act(n, E);
        const cuda::MoeExpertTable& table = gpu->table(layer);
        const bool q8_decode = n == 1 && kernels_.new_decode && cuda::has_q8_kernel(table.gate_up_type) &&
                               cuda::has_q8_kernel(table.down_type);
        // Decode where the router's activations are the experts' (Q4_K router, Q4_K experts, say):
        // x quantised once for both.
        const void* xq = nullptr;
        if (q8_decode && cuda::has_q8_kernel(router.type) &&
            (router.type == GgmlType::Q8_0) == (table.gate_up_type == GgmlType::Q8_0)) {  // Q8_0 or Q8_K both
            void* q = arena_.alloc(cuda::q8_activation_bytes(router.type, 1, x.cols));
            cuda::quantize_activations(router.type, x.data, 1, x.cols, q, stream_);
            const cuda::MatvecTarget target{router.data, router.rows, logits.data};
            cuda::matvec_q8(router.type, &target, 1, router.cols, q, 1, stream_);
            xq = q;
        } else {
            matmul(router, x, logits);
        }
        int32_t* ids = static_cast<int32_t*>(arena_.alloc(size_t(n * K) * sizeof(int32_t)));
        float* weights = static_cast<float*>(arena_.alloc(size_t(n * K) * sizeof(float)));
        std::vector<int32_t> host_ids;
        std::vector<float> host_weights;
        if (routing.uniform) {
            // Benchmarks only: the CPU's seeded draw, on the host, so both devices route alike.
            std::vector<float> l(size_t(n * E));
            read(logits, l.data());
            host_ids.resize(size_t(n * K));
            host_weights.resize(size_t(n * K));
            route_top_k(l.data(), n, E, routing, host_ids.data(), host_weights.data());
            copy_to_device(ids, host_ids);
            copy_to_device(weights, host_weights);
        } else {
            cuda::route_top_k(logits.data, n, E, K, routing.normalize, ids, weights, stream_);
        }
        if (n == 1) {
            // Decode: the experts are picked on the device; no host round trip.
            if (q8_decode) {
                void* scratch = arena_.alloc(cuda::moe_decode_q8_scratch_bytes(table, K));
                cuda::moe_decode_q8(table, ids, weights, K, x.data, xq, out.data, scratch, stream_);
            } else {
                float* scratch = static_cast<float*>(arena_.alloc(size_t(K * table.inter) * sizeof(float)));
                cuda::moe_decode(table, ids, weights, K, x.data, out.data, scratch, stream_);
            }
            gpu->count_uses(K);
            return;
        }
        if (host_ids.empty()) {
            host_ids.resize(size_t(n * K));
            host_weights.resize(size_t(n * K));
            SLUICE_CUDA_CHECK(cudaMemcpyAsync(host_ids.data(), ids, host_ids.size() * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_));
            SLUICE_CUDA_CHECK(cudaMemcpyAsync(host_weights.data(), weights, host_weights.size() * sizeof(float),
                                              cudaMemcpyDeviceToHost, stream_));
            SLUICE_CUDA_CHECK(cudaStreamSynchronize(stream_));
        }
        moe_batch(*gpu, layer, x, host_ids, host_weights, K, out);
    }

    void prefetch_predicted(const Weight&, Vec, float, const MoeRouting&, ExpertSource&, int64_t, Act) override {
        fail("internal: prefetch asked of the CUDA backend, whose experts are all in VRAM");
    }

    void read(Act src, float* dst) override {
        SLUICE_CUDA_CHECK(cudaMemcpyAsync(dst, src.data, size_t(src.size()) * sizeof(float), cudaMemcpyDeviceToHost, stream_));
        SLUICE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

protected:
    size_t scratch_mark() override { return arena_.mark(); }
    void scratch_release(size_t mark) override { arena_.release(mark); }

private:
    // Matrix × vector for 1..kMaxMatvecRows activation rows: on 8-bit activations, quantised
    // once for all the targets, where the type has such a kernel and they are chosen.
    void matvec(GgmlType type, const cuda::MatvecTarget* targets, int count, int64_t cols, Act x) {
        if (!kernels_.new_decode || !cuda::has_q8_kernel(type)) {
            cuda::matvec_shared(type, targets, count, cols, x.data, x.rows, stream_);
            return;
        }
        Frame frame(*this);
        cuda::matvec_q8(type, targets, count, cols, quantised(type, x, cols), x.rows, stream_);
    }

    // x's rows of `cols` values quantised for products with weight type `type` (has_q8_kernel),
    // in the current Frame.
    const void* quantised(GgmlType type, Act x, int64_t cols) {
        void* xq = arena_.alloc(cuda::q8_activation_bytes(type, x.rows, cols));
        cuda::quantize_activations(type, x.data, x.rows, cols, xq, stream_);
        return xq;
    }

    template <class T>
    void copy_to_device(T* dst, const std::vector<T>& host) {
        SLUICE_CUDA_CHECK(cudaMemcpyAsync(dst, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice, stream_));
    }
    template <class T>
    T* upload(std::span<const T> host) {
        T* dst = static_cast<T*>(arena_.alloc(host.size() * sizeof(T)));
        SLUICE_CUDA_CHECK(cudaMemcpyAsync(dst, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice, stream_));
        return dst;
    }

    // A batch of tokens through the routed experts: the rows of each expert's tokens gathered
    // into one block, each expert's block through its SwiGLU as one product, then every token's
    // K outputs summed in ascending expert id (as the CPU does, so results do not depend on
    // the grouping).
    void moe_batch(CudaExperts& experts, int64_t layer, Act x, const std::vector<int32_t>& ids,
                   const std::vector<float>& weights, int64_t K, Act out) {
        const int64_t n = x.rows, H = x.cols;
        std::map<int32_t, std::vector<int64_t>> by_expert;   // expert → (t·K + j) slots, ascending t
        for (int64_t i = 0; i < n * K; ++i) by_expert[ids[size_t(i)]].push_back(i);
        std::vector<int32_t> rows;                 // the token of each gathered row
        std::vector<int32_t> at(size_t(n * K));    // gathered row of each (t, j) slot
        std::vector<int32_t> needed;
        std::vector<int64_t> first;                // first gathered row of each needed expert
        for (const auto& [e, slots] : by_expert) {
            needed.push_back(e);
            first.push_back(int64_t(rows.size()));
            for (int64_t s : slots) {
                at[size_t(s)] = int32_t(rows.size());
                rows.push_back(int32_t(s / K));
            }
        }
        // Each token's slots in ascending expert id, so the sum runs in that order.
        std::vector<int32_t> order_at(size_t(n * K));
        std::vector<float> order_w(size_t(n * K));
        for (int64_t t = 0; t < n; ++t) {
            std::vector<int64_t> js(static_cast<size_t>(K));
            for (int64_t j = 0; j < K; ++j) js[size_t(j)] = j;
            std::sort(js.begin(), js.end(), [&](int64_t a, int64_t b) { return ids[size_t(t * K + a)] < ids[size_t(t * K + b)]; });
            for (int64_t j = 0; j < K; ++j) {
                order_at[size_t(t * K + j)] = at[size_t(t * K + js[size_t(j)])];
                order_w[size_t(t * K + j)] = weights[size_t(t * K + js[size_t(j)])];
            }
        }
        Frame frame(*this);
        const int64_t R = int64_t(rows.size());
        Act xs = act(R, H), ys = act(R, H);
        cuda::gather_rows(x.data, H, upload(std::span<const int32_t>(rows)), R, xs.data, stream_);
        const cuda::MoeExpertTable& table = experts.table(layer);
        if (kernels_.new_prefill && cuda::has_mmq_kernel(table.gate_up_type) && cuda::has_mmq_kernel(table.down_type)) {
            // Every expert's tokens in one launch per projection, on int8 tensor cores.
            std::vector<int64_t> counts(needed.size());
            for (size_t k = 0; k < needed.size(); ++k) counts[k] = (k + 1 < first.size() ? first[k + 1] : R) - first[k];
            const std::vector<cuda::MmqTile> tiles = cuda::mmq_tiles(needed, first, counts);
            const cuda::MmqTile* dtiles = upload(std::span<const cuda::MmqTile>(tiles));
            const int64_t I = table.inter, n_tiles = int64_t(tiles.size());
            void* xq = arena_.alloc(cuda::q8_activation_bytes(table.gate_up_type, R, H));
            cuda::quantize_activations(table.gate_up_type, xs.data, R, H, xq, stream_);
            Act g = act(R, I), u = act(R, I);
            cuda::mmq(table.gate_up_type, table.gate, nullptr, dtiles, n_tiles, 0, I, H, xq, g.data, stream_);
            cuda::mmq(table.gate_up_type, table.up, nullptr, dtiles, n_tiles, 0, I, H, xq, u.data, stream_);
            cuda::silu_mul(g.data, u.data, g.data, g.size(), stream_);
            void* hq = arena_.alloc(cuda::q8_activation_bytes(table.down_type, R, I));
            cuda::quantize_activations(table.down_type, g.data, R, I, hq, stream_);
            cuda::mmq(table.down_type, table.down, nullptr, dtiles, n_tiles, 0, H, I, hq, ys.data, stream_);
            experts.count_uses(int64_t(needed.size()));
        } else {
            experts.with_experts(layer, needed, [&](std::span<const ReadyExpert> ready) {
                for (const ReadyExpert& r : ready) {
                    const size_t k = size_t(std::lower_bound(needed.begin(), needed.end(), r.expert) - needed.begin());
                    const int64_t m = (k + 1 < first.size() ? first[k + 1] : R) - first[k];
                    swiglu(r.weights.gate, r.weights.up, r.weights.down, xs.rows_from(first[k], m), ys.rows_from(first[k], m));
                }
            });
        }
        cuda::moe_combine(ys.data, upload(std::span<const int32_t>(order_at)), upload(std::span<const float>(order_w)), n,
                          K, H, out.data, stream_);
    }

    GpuKernelChoice kernels_;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;
    DeviceArena arena_;
    std::deque<cuda::DeviceBuffer<uint8_t>> weights_;
    std::deque<cuda::DeviceBuffer<float>> vectors_;
    std::deque<cuda::DeviceBuffer<int32_t>> indices_;
};

}  // namespace

std::shared_ptr<Backend> make_cuda_backend(int device) { return std::make_shared<CudaBackend>(device); }

CudaBackendInfo cuda_device_info(int device) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) fail("--gpu: no CUDA device found");
    if (device < 0 || device >= count) fail("--gpu {}: this machine has {} CUDA device(s), 0..{}", device, count, count - 1);
    cudaDeviceProp prop{};
    SLUICE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    SLUICE_CUDA_CHECK(cudaSetDevice(device));
    CudaBackendInfo info;
    info.device = device;
    info.name = prop.name;
    size_t free_b = 0, total_b = 0;
    SLUICE_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    info.free_bytes = free_b;
    info.total_bytes = total_b;
    return info;
}

}  // namespace sluice
