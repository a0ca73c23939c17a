// The host backend: the operations of model/backend.h on the kernels of src/kernels and the
// blocks of model/blocks.h, with the global thread pool. Weights are used where they lie (mapped
// file or DenseWeights' copies); vectors and index maps are copied into the backend.
#include <algorithm>
#include <cstring>
#include <deque>

#include "model/backend.h"
#include "model/blocks.h"
#include "model/latent_attention.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace sluice {

namespace {

// A cache indexed by position: positions past n_past are never read (they are overwritten
// first), so going back to an empty or an earlier state needs nothing kept.
class PositionalCache : public LayerState {
public:
    void reset() override {}
    std::vector<float> checkpoint() const override { return {}; }
    void restore(std::span<const float>) override {}
};

class CpuKvCache : public PositionalCache {
public:
    CpuKvCache(KvCacheType type, int64_t capacity, int64_t kv_heads, int64_t head_dim)
        : cache(type, capacity, kv_heads, head_dim) {}
    uint64_t bytes() const override { return cache.bytes(); }
    KvCache cache;
};

class CpuLatentCache : public PositionalCache {
public:
    CpuLatentCache(KvCacheType type, int64_t capacity, int64_t latent, int64_t rope) : cache(type, capacity, latent, rope) {}
    uint64_t bytes() const override { return cache.bytes(); }
    LatentCache cache;
};

class CpuDeltaNetState : public LayerState {
public:
    explicit CpuDeltaNetState(const DeltaNetDims& dims) : state(dims) {}
    uint64_t bytes() const override { return (state.conv.size() + state.recurrent.size()) * sizeof(float); }
    void reset() override { state.reset(); }
    std::vector<float> checkpoint() const override {
        std::vector<float> saved(state.conv);
        saved.insert(saved.end(), state.recurrent.begin(), state.recurrent.end());
        return saved;
    }
    void restore(std::span<const float> saved) override {
        if (saved.size() != state.conv.size() + state.recurrent.size())
            fail("internal: a DeltaNet checkpoint of {} values for a state of {}", saved.size(),
                 state.conv.size() + state.recurrent.size());
        std::copy(saved.begin(), saved.begin() + std::ptrdiff_t(state.conv.size()), state.conv.begin());
        std::copy(saved.begin() + std::ptrdiff_t(state.conv.size()), saved.end(), state.recurrent.begin());
    }
    DeltaNetState state;
};

template <class T>
T& state_as(LayerState& s, const char* what) {
    auto* p = dynamic_cast<T*>(&s);
    if (!p) fail("internal: the CPU backend was given a {} it did not make", what);
    return *p;
}

class CpuBackend : public Backend {
public:
    const char* name() const override { return "cpu"; }

    Weight weight(const Weight& host, const std::string&) override { return host; }
    Vec vec(std::span<const float> host) override {
        const auto& v = vectors_.emplace_back(host.begin(), host.end());
        return {v.data(), int64_t(v.size())};
    }
    Index index(std::span<const int32_t> host) override {
        const auto& v = indices_.emplace_back(host.begin(), host.end());
        return {v.data(), int64_t(v.size())};
    }

    std::unique_ptr<LayerState> kv_cache(int64_t capacity, int64_t kv_heads, int64_t head_dim,
                                         KvCacheType type) override {
        return std::make_unique<CpuKvCache>(type, capacity, kv_heads, head_dim);
    }
    std::unique_ptr<LayerState> deltanet_state(const DeltaNetDims& dims) override {
        return std::make_unique<CpuDeltaNetState>(dims);
    }

    std::unique_ptr<LayerState> latent_cache(int64_t capacity, int64_t latent, int64_t rope,
                                             KvCacheType type) override {
        return std::make_unique<CpuLatentCache>(type, capacity, latent, rope);
    }

    Act act(int64_t rows, int64_t cols) override {
        auto& buf = scratch_.emplace_back(size_t(rows * cols));
        return {buf.data(), rows, cols};
    }

    void embed(const Weight& table, std::span<const int32_t> tokens, Act out) override {
        for (size_t t = 0; t < tokens.size(); ++t) {
            if (tokens[t] < 0 || tokens[t] >= table.rows)
                fail("token id {} is outside the vocabulary (0..{})", tokens[t], table.rows - 1);
            dequantize_row(table, tokens[t], out.data + int64_t(t) * table.cols);
        }
    }
    void rms_norm(Act x, Vec w, Act y, float eps) override {
        sluice::rms_norm(x.data, w.data, y.data, x.size() / w.n, w.n, eps);
    }
    void matmul(const Weight& w, Act x, Act y) override { sluice::matmul(w, x.data, x.rows, y.data); }
    void matmul_shared(std::span<const Weight* const> ws, Act x, std::span<const Act> ys) override {
        std::vector<float*> outs;
        for (const Act& y : ys) outs.push_back(y.data);
        matmul_shared_input(ws, x.data, x.rows, outs);
    }
    void copy_rows(Act src, int64_t src_row, Act dst, int64_t dst_row, int64_t count) override {
        std::memcpy(dst.data + dst_row * dst.cols, src.data + src_row * src.cols, size_t(count * src.cols) * sizeof(float));
    }
    void add(Act y, Act x) override {
        for (int64_t i = 0; i < y.size(); ++i) y.data[i] += x.data[i];
    }
    void add_bias(Act y, Vec b) override {
        for (int64_t t = 0; t < y.rows; ++t)
            for (int64_t d = 0; d < y.cols; ++d) y.data[t * y.cols + d] += b.data[d];
    }
    void mul_sigmoid(Act y, Act gate) override {
        for (int64_t i = 0; i < y.size(); ++i) y.data[i] *= sigmoid(gate.data[i]);
    }
    void add_gated(Act y, Act x, Act gate) override {
        for (int64_t t = 0; t < y.rows; ++t) {
            const float s = sigmoid(gate.data[t]);
            for (int64_t d = 0; d < y.cols; ++d) y.data[t * y.cols + d] += s * x.data[t * x.cols + d];
        }
    }
    void gather_cols(Act src, Index map, Act dst) override {
        for (int64_t r = 0; r < dst.rows; ++r)
            for (int64_t j = 0; j < map.n; ++j) dst.data[r * dst.cols + j] = src.data[r * src.cols + map.data[j]];
    }
    void rope_neox(Act x, int64_t heads, int64_t rot_dim, int64_t pos0, float theta) override {
        sluice::rope_neox(x.data, x.rows, heads, x.cols / heads, rot_dim, pos0, theta);
    }
    void rope_halves(Act x, int64_t heads, const RotaryTable& table, int64_t pos0) override {
        sluice::rope_halves(x.data, x.rows, heads, table, pos0);
    }
    void rope_pairs(Act x, int64_t heads, const RotaryTable& table, int64_t pos0) override {
        sluice::rope_pairs(x.data, x.rows, heads, table, pos0);
    }
    // Heads spread over the threads, each head's product on one: the matrices are small (512 × 128
    // on DeepSeek-V3) and one pool dispatch per head would cost more than the product.
    void matmul_per_head(std::span<const Weight> ws, Act x, Act y) override {
        std::vector<int64_t> in_at{0}, out_at{0};
        for (const Weight& w : ws) {
            in_at.push_back(in_at.back() + w.cols);
            out_at.push_back(out_at.back() + w.rows);
        }
        ThreadPool::global().parallel_for(int64_t(ws.size()), [&](int, int64_t begin, int64_t end) {
            std::vector<float> xh, yh;
            for (int64_t h = begin; h < end; ++h) {
                const Weight& w = ws[size_t(h)];
                xh.resize(size_t(x.rows * w.cols));
                yh.resize(size_t(x.rows * w.rows));
                for (int64_t t = 0; t < x.rows; ++t)
                    std::memcpy(&xh[size_t(t * w.cols)], x.data + t * x.cols + in_at[size_t(h)], size_t(w.cols) * 4);
                sluice::matmul(w, xh.data(), x.rows, yh.data(), ThreadPool::serial());
                for (int64_t t = 0; t < x.rows; ++t)
                    std::memcpy(y.data + t * y.cols + out_at[size_t(h)], &yh[size_t(t * w.rows)], size_t(w.rows) * 4);
            }
        });
    }
    void latent_attention(Act q_latent, Act q_rope, Act latent, Act k_rope, LayerState& cache, int64_t pos0, float scale,
                          Act out) override {
        LatentCache& c = state_as<CpuLatentCache>(cache, "latent cache").cache;
        sluice::latent_attention(q_latent.data, q_rope.data, latent.data, k_rope.data, q_latent.rows, pos0,
                                 q_latent.cols / c.latent, scale, c, out.data);
    }
    void attention(Act q, Act k, Act v, LayerState& cache, int64_t pos0, Act out) override {
        KvCache& c = state_as<CpuKvCache>(cache, "KV cache").cache;
        sluice::attention(q.data, k.data, v.data, q.rows, pos0, q.cols / c.head_dim, c, out.data);
    }
    void attention_sinks(Act q, Act k, Act v, LayerState& cache, int64_t pos0, Vec sinks, int64_t window,
                         Act out) override {
        KvCache& c = state_as<CpuKvCache>(cache, "KV cache").cache;
        sluice::attention(q.data, k.data, v.data, q.rows, pos0, q.cols / c.head_dim, c, out.data, sinks.data, window);
    }
    void deltanet(const DeltaNetParams& p, LayerState& state, Act mixed, Act a, Act b, Act out) override {
        DeltaNetWeights w;
        w.conv = p.conv.data;
        w.A = p.a.data;
        w.A_form = p.a_form;
        w.dt_bias = p.dt_bias.data;
        deltanet_forward(p.dims, w, state_as<CpuDeltaNetState>(state, "recurrent state").state, mixed.rows, mixed.data,
                         a.data, b.data, out.data);
    }
    void gated_rms_norm(Act x, Act z, Vec w, float eps, Act out) override {
        sluice::gated_rms_norm(x.data, z.data, w.data, x.size() / w.n, int(w.n), eps, out.data);
    }
    void swiglu(const Weight& gate, const Weight& up, const Weight& down, Act x, Act out) override {
        swiglu_ffn(gate, up, down, x.data, x.rows, out.data);
    }
    void moe(const Weight& router, const MoeRouting& routing, ExpertSource& experts, int64_t layer, Act x,
             Act out) override {
        moe_routed(router, routing, experts, layer, x.data, x.rows, out.data);
    }
    void prefetch_predicted(const Weight& router, Vec norm, float eps, const MoeRouting& routing, ExpertSource& experts,
                            int64_t layer, Act h) override {
        sluice::prefetch_predicted(router, norm.data, eps, routing, experts, layer, h.data, h.rows);
    }
    void read(Act src, float* dst) override { std::memcpy(dst, src.data, size_t(src.size()) * sizeof(float)); }

protected:
    size_t scratch_mark() override { return scratch_.size(); }
    void scratch_release(size_t mark) override { scratch_.resize(mark); }

private:
    std::deque<std::vector<float>> vectors_;
    std::deque<std::vector<int32_t>> indices_;
    std::deque<std::vector<float>> scratch_;   // a stack: Frames pop what was made inside them
};

}  // namespace

std::shared_ptr<Backend> make_cpu_backend() { return std::make_shared<CpuBackend>(); }

}  // namespace sluice
