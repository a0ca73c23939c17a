#include "model/blocks.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <random>

#include "model/weights.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace sluice {

void rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t width, float eps) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * width;
        float* yr = y + r * width;
        double ss = 0;
        for (int64_t i = 0; i < width; ++i) ss += double(xr[i]) * xr[i];
        float scale = float(1.0 / std::sqrt(ss / double(width) + double(eps)));
        if (w) {
            for (int64_t i = 0; i < width; ++i) yr[i] = xr[i] * scale * w[i];
        } else {
            for (int64_t i = 0; i < width; ++i) yr[i] = xr[i] * scale;
        }
    }
}

void rope_neox(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim, int64_t pos0, float theta) {
    const int64_t half = rot_dim / 2;
    std::vector<double> cosv(static_cast<size_t>(half)), sinv(static_cast<size_t>(half));
    for (int64_t t = 0; t < n; ++t) {
        // Angles in double: positions reach 10^5 and float angles would lose the fine phase.
        for (int64_t i = 0; i < half; ++i) {
            double inv_freq = std::pow(double(theta), -2.0 * double(i) / double(rot_dim));
            double a = double(pos0 + t) * inv_freq;
            cosv[size_t(i)] = std::cos(a);
            sinv[size_t(i)] = std::sin(a);
        }
        for (int64_t h = 0; h < heads; ++h) {
            float* v = x + (t * heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                double a = v[i], b = v[i + half];
                v[i] = float(a * cosv[size_t(i)] - b * sinv[size_t(i)]);
                v[i + half] = float(b * cosv[size_t(i)] + a * sinv[size_t(i)]);
            }
        }
    }
}

void attention_inputs(const Weight& wq, const Weight& wk, const Weight& wv, const float* x, int64_t n, float* q, float* k,
                      float* v) {
    const Weight* ws[] = {&wq, &wk, &wv};
    float* ys[] = {q, k, v};
    matmul_shared_input(ws, x, n, ys);
}

void swiglu_ffn(const Weight& gate, const Weight& up, const Weight& down, const float* x, int64_t m, float* out,
                ThreadPool& pool) {
    const int64_t I = gate.rows;
    std::vector<float> g(size_t(m * I)), u(size_t(m * I));
    const Weight* ws[] = {&gate, &up};
    float* ys[] = {g.data(), u.data()};
    matmul_shared_input(ws, x, m, ys, pool);
    for (size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
    matmul(down, g.data(), m, out, pool);
}

namespace {

// BiasedExperts' FFN for expert e on m rows.
void biased_swiglu_ffn(const ExpertWeights& w, const BiasedExperts& b, int32_t e, const float* x, int64_t m, float* out,
                       ThreadPool& pool) {
    const int64_t I = w.gate.rows, H = w.down.rows;
    constexpr float kAlpha = 1.702f;   // gpt-oss's sigmoid sharpness (its reference code's constant)
    std::vector<float> g(size_t(m * I)), u(size_t(m * I));
    const Weight* ws[] = {&w.gate, &w.up};
    float* ys[] = {g.data(), u.data()};
    matmul_shared_input(ws, x, m, ys, pool);
    const float* bg = b.gate_bias.data() + size_t(e) * size_t(I);
    const float* bu = b.up_bias.data() + size_t(e) * size_t(I);
    const float* bd = b.down_bias.data() + size_t(e) * size_t(H);
    for (int64_t r = 0; r < m; ++r)
        for (int64_t i = 0; i < I; ++i) {
            const float gate = std::min(g[size_t(r * I + i)] + bg[i], b.limit);
            const float up = std::clamp(u[size_t(r * I + i)] + bu[i], -b.limit, b.limit);
            g[size_t(r * I + i)] = (up + 1.0f) * gate * sigmoid(kAlpha * gate);
        }
    matmul(w.down, g.data(), m, out, pool);
    for (int64_t r = 0; r < m; ++r)
        for (int64_t d = 0; d < H; ++d) out[r * H + d] += bd[d];
}

// MoeRouting::uniform: K distinct experts drawn by a generator seeded with the bits of the
// token's router logits (a partial Fisher-Yates shuffle), each weighted 1/K.
void route_uniformly(const float* logits, int64_t n_experts, int64_t K, int32_t* ids, float* weights) {
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int64_t e = 0; e < n_experts; ++e) {
        uint32_t bits;
        std::memcpy(&bits, logits + e, 4);
        seed = (seed ^ bits) * 0x100000001B3ull;
    }
    std::mt19937_64 rng(seed);
    std::vector<int32_t> order(static_cast<size_t>(n_experts));
    std::iota(order.begin(), order.end(), 0);
    for (int64_t j = 0; j < K; ++j) {
        std::uniform_int_distribution<int64_t> pick(j, n_experts - 1);
        std::swap(order[size_t(j)], order[size_t(pick(rng))]);
        ids[j] = order[size_t(j)];
        weights[j] = 1.0f / float(K);
    }
}

// DeepSeek-V3's "noaux_tc" routing as transformers computes it: choice scores sigmoid + bias;
// groups ranked by the sum of their best two choice scores; experts outside the kept groups
// get a choice score of 0 (not −∞: transformers' masked_fill); top-K by choice score, weighted
// by the plain sigmoid.
void route_sigmoid_top_k(const float* logits, int64_t n, int64_t n_experts, const MoeRouting& routing, int32_t* ids,
                         float* weights) {
    const int64_t K = routing.n_used, G = routing.groups, per_group = n_experts / G;
    std::vector<float> s(static_cast<size_t>(n_experts)), choice(static_cast<size_t>(n_experts)),
        group_score(static_cast<size_t>(G));
    std::vector<int32_t> order(static_cast<size_t>(n_experts)), group_order(static_cast<size_t>(G));
    for (int64_t t = 0; t < n; ++t) {
        const float* l = logits + t * n_experts;
        for (int64_t e = 0; e < n_experts; ++e) {
            s[size_t(e)] = sigmoid(l[e]);
            choice[size_t(e)] = s[size_t(e)] + (routing.score_bias.empty() ? 0.0f : routing.score_bias[size_t(e)]);
        }
        if (routing.groups_used < G) {
            for (int64_t g = 0; g < G; ++g) {
                const float* c = choice.data() + g * per_group;
                float best = -INFINITY, second = -INFINITY;
                for (int64_t i = 0; i < per_group; ++i) {
                    if (c[i] > best) second = best, best = c[i];
                    else if (c[i] > second) second = c[i];
                }
                group_score[size_t(g)] = best + second;
            }
            std::iota(group_order.begin(), group_order.end(), 0);
            std::partial_sort(group_order.begin(), group_order.begin() + routing.groups_used, group_order.end(),
                              [&](int32_t a, int32_t b) {
                                  return group_score[size_t(a)] > group_score[size_t(b)] ||
                                         (group_score[size_t(a)] == group_score[size_t(b)] && a < b);
                              });
            std::vector<bool> kept(size_t(G), false);
            for (int64_t j = 0; j < routing.groups_used; ++j) kept[size_t(group_order[size_t(j)])] = true;
            for (int64_t e = 0; e < n_experts; ++e)
                if (!kept[size_t(e / per_group)]) choice[size_t(e)] = 0.0f;
        }
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int32_t a, int32_t b) {
            return choice[size_t(a)] > choice[size_t(b)] || (choice[size_t(a)] == choice[size_t(b)] && a < b);
        });
        double kept_sum = 0;
        for (int64_t j = 0; j < K; ++j) kept_sum += s[size_t(order[size_t(j)])];
        for (int64_t j = 0; j < K; ++j) {
            const int32_t e = order[size_t(j)];
            ids[t * K + j] = e;
            const double w = routing.normalize ? s[size_t(e)] / (kept_sum + 1e-20) : s[size_t(e)];
            weights[t * K + j] = float(w * routing.scale);
        }
    }
}

}  // namespace

void route_top_k(const float* logits, int64_t n, int64_t n_experts, const MoeRouting& routing, int32_t* ids,
                 float* weights) {
    const int64_t K = routing.n_used;
    if (routing.uniform) {
        for (int64_t t = 0; t < n; ++t) route_uniformly(logits + t * n_experts, n_experts, K, ids + t * K, weights + t * K);
        return;
    }
    if (routing.gating == Gating::Sigmoid) {
        route_sigmoid_top_k(logits, n, n_experts, routing, ids, weights);
        return;
    }
    std::vector<float> p(static_cast<size_t>(n_experts)), biased;
    std::vector<int32_t> order(static_cast<size_t>(n_experts));
    for (int64_t t = 0; t < n; ++t) {
        const float* l = logits + t * n_experts;
        if (!routing.logit_bias.empty()) {
            biased.assign(l, l + n_experts);
            for (int64_t e = 0; e < n_experts; ++e) biased[size_t(e)] += routing.logit_bias[size_t(e)];
            l = biased.data();
        }
        if (routing.gating == Gating::SoftmaxOfChosen) {
            // The K largest logits (the first on a tie), then a softmax over them.
            std::iota(order.begin(), order.end(), 0);
            std::partial_sort(order.begin(), order.begin() + K, order.end(),
                              [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
            const float mx = l[order[0]];
            double sum = 0;
            for (int64_t j = 0; j < K; ++j) sum += std::exp(double(l[order[size_t(j)]] - mx));
            for (int64_t j = 0; j < K; ++j) {
                ids[t * K + j] = order[size_t(j)];
                weights[t * K + j] = float(std::exp(double(l[order[size_t(j)]] - mx)) / sum);
            }
            continue;
        }
        float mx = *std::max_element(l, l + n_experts);
        double sum = 0;
        for (int64_t e = 0; e < n_experts; ++e) sum += p[size_t(e)] = std::exp(l[e] - mx);
        for (auto& x : p) x = float(x / sum);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int32_t a, int32_t b) {
            return p[size_t(a)] > p[size_t(b)] || (p[size_t(a)] == p[size_t(b)] && a < b);
        });
        double kept = 0;
        for (int64_t j = 0; j < K; ++j) kept += p[size_t(order[size_t(j)])];
        for (int64_t j = 0; j < K; ++j) {
            ids[t * K + j] = order[size_t(j)];
            float w = p[size_t(order[size_t(j)])];
            weights[t * K + j] = routing.normalize ? float(w / kept) : w;
        }
    }
}

void moe_routed(const Weight& router, const MoeRouting& routing, ExpertSource& experts, int64_t layer, const float* x,
                int64_t n, float* out) {
    const int64_t E = router.rows, H = router.cols, K = routing.n_used;
    std::vector<float> logits(size_t(n * E));
    matmul(router, x, n, logits.data());
    std::vector<int32_t> ids(size_t(n * K));
    std::vector<float> weights(size_t(n * K));
    route_top_k(logits.data(), n, E, routing, ids.data(), weights.data());

    // Group the batch by expert so each expert is fetched once and runs all its tokens at once.
    std::map<int32_t, std::vector<std::pair<int64_t, float>>> by_expert;
    for (int64_t t = 0; t < n; ++t)
        for (int64_t j = 0; j < K; ++j) by_expert[ids[size_t(t * K + j)]].push_back({t, weights[size_t(t * K + j)]});
    std::vector<int32_t> needed;
    for (const auto& [e, tokens] : by_expert) needed.push_back(e);

    // Experts arrive in whatever order their reads complete; their outputs are kept and summed
    // in ascending expert id so the result does not depend on I/O timing.
    std::vector<std::vector<float>> outputs(needed.size());
    auto run_expert = [&](const ReadyExpert& r, ThreadPool& pool) {
        const auto& tokens = by_expert.at(r.expert);
        const int64_t m = int64_t(tokens.size());
        std::vector<float> xe(size_t(m * H));
        for (int64_t i = 0; i < m; ++i) std::copy_n(x + tokens[size_t(i)].first * H, H, xe.begin() + i * H);
        auto& ye = outputs[size_t(std::lower_bound(needed.begin(), needed.end(), r.expert) - needed.begin())];
        ye.resize(size_t(m * H));
        if (routing.experts.active()) biased_swiglu_ffn(r.weights, routing.experts, r.expert, xe.data(), m, ye.data(), pool);
        else swiglu_ffn(r.weights.gate, r.weights.up, r.weights.down, xe.data(), m, ye.data(), pool);
    };
    ThreadPool& pool = ThreadPool::global();
    experts.with_experts(layer, needed, [&](std::span<const ReadyExpert> ready) {
        // Experts with a token or two (decode) are small products: one thread per whole expert
        // needs one dispatch of the pool for all of them instead of three per expert. What does
        // not divide evenly among the threads, and experts with many tokens, split their rows.
        const size_t P = size_t(pool.size());
        const bool small = std::all_of(ready.begin(), ready.end(),
                                       [&](const ReadyExpert& r) { return by_expert.at(r.expert).size() <= 2; });
        const size_t whole = small && P > 1 ? ready.size() / P * P : 0;
        if (whole > 0) {
            std::atomic<size_t> next{0};
            pool.parallel_for(int64_t(P), [&](int, int64_t, int64_t) {
                for (size_t i = next++; i < whole; i = next++) run_expert(ready[i], ThreadPool::serial());
            });
        }
        for (size_t i = whole; i < ready.size(); ++i) run_expert(ready[i], pool);
    });
    for (size_t k = 0; k < needed.size(); ++k) {
        const auto& tokens = by_expert.at(needed[k]);
        for (size_t i = 0; i < tokens.size(); ++i) {
            float* o = out + tokens[i].first * H;
            const float wt = tokens[i].second;
            const float* ye = outputs[k].data() + i * size_t(H);
            for (int64_t d = 0; d < H; ++d) o[d] += wt * ye[d];
        }
    }
}

}  // namespace sluice

namespace sluice {

void prefetch_predicted(const Weight& router, const float* norm, float eps, const MoeRouting& routing,
                        ExpertSource& experts, int64_t layer, const float* h, int64_t n) {
    const int64_t H = router.cols, E = router.rows, K = routing.n_used;
    std::vector<float> x(size_t(n * H)), logits(size_t(n * E)), w(size_t(n * K));
    std::vector<int32_t> ids(size_t(n * K));
    rms_norm(h, norm, x.data(), n, H, eps);
    if (n == 1) matvec(router, x.data(), logits.data());
    else matmul(router, x.data(), n, logits.data());
    route_top_k(logits.data(), n, E, routing, ids.data(), w.data());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    experts.prefetch(layer, ids);
}

MoeRouting moe_routing(const ModelConfig& c, int64_t experts_per_token, bool uniform) {
    MoeRouting r;
    r.uniform = uniform;
    r.n_used = experts_per_token > 0 ? experts_per_token : c.n_experts_used;
    r.normalize = c.norm_topk_prob || experts_per_token > 0;
    r.gating = c.gating;
    r.groups = c.expert_groups;
    r.groups_used = c.expert_groups_used;
    r.scale = c.routed_scale;
    if (r.n_used > c.n_experts) fail("--experts-per-token {} exceeds the model's {} experts", r.n_used, c.n_experts);
    return r;
}

std::vector<SequenceRows> sequence_rows(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) {
    std::vector<SequenceRows> rows;
    tokens.clear();
    for (const SequenceStep& s : steps) {
        const int64_t n = int64_t(s.tokens.size());
        if (n == 0) fail("a sequence of the batch has no tokens");
        if (s.state->n_past + n > s.state->capacity)
            fail("context full: {} tokens do not fit in the {}-token context", s.state->n_past + n, s.state->capacity);
        for (const SequenceRows& r : rows)
            if (r.state == s.state) fail("a batch holds the same sequence twice");
        rows.push_back({s.state, int64_t(tokens.size()), n, s.state->n_past});
        tokens.insert(tokens.end(), s.tokens.begin(), s.tokens.end());
    }
    return rows;
}

void rope_attention(Backend& be, std::span<const SequenceRows> seqs, int64_t layer, Act q, Act k, Act v, Act out,
                    int64_t kv_heads, const QkNorm& norm, int64_t rot_dim, float theta) {
    const int64_t heads = q.cols / (k.cols / kv_heads);
    for (const SequenceRows& s : seqs) {
        be.rope_neox_attention(q.rows_from(s.row0, s.n), k.rows_from(s.row0, s.n), v.rows_from(s.row0, s.n), heads,
                               kv_heads, norm, rot_dim, s.pos0, theta, s.layer_state(layer), out.rows_from(s.row0, s.n));
    }
}

void TokenIo::logits(Backend& be, Act h, std::span<const SequenceStep> steps, std::span<const SequenceRows> rows,
                     float eps) const {
    Backend::Frame frame(be);
    auto wanted = [&](size_t i) { return steps[i].all_logits ? rows[i].n : int64_t(1); };
    int64_t m = 0;
    for (size_t i = 0; i < steps.size(); ++i) m += wanted(i);
    Act picked = h;
    if (m != h.rows) {   // some sequences want only their last row
        picked = be.act(m, h.cols);
        for (size_t i = 0, at = 0; i < steps.size(); at += size_t(wanted(i)), ++i)
            be.copy_rows(h, rows[i].row0 + rows[i].n - wanted(i), picked, int64_t(at), wanted(i));
    }
    Act x = be.act(m, h.cols), y = be.act(m, output.rows);
    be.rms_norm(picked, output_norm, x, eps);
    be.matmul(output, x, y);
    for (size_t i = 0, at = 0; i < steps.size(); at += size_t(wanted(i)), ++i)
        be.read(y.rows_from(int64_t(at), wanted(i)), steps[i].logits);
}

TokenIo TokenIo::load(DenseWeights& weights, const ModelConfig& c) {
    TokenIo io;
    io.embed = weights.matrix("token_embd.weight", c.vocab_size, c.hidden);
    io.output_norm = weights.vec("output_norm.weight", c.hidden);
    io.output = weights.has("output.weight") ? weights.matrix("output.weight", c.vocab_size, c.hidden) : io.embed;
    return io;
}

void project_qkv(Backend& be, const Weight& wq, const Weight& wk, const Weight& wv, Act x, Act q, Act k, Act v) {
    const Weight* w[] = {&wq, &wk, &wv};
    const Act out[] = {q, k, v};
    be.matmul_shared(w, x, out);
}

DecoderPass::DecoderPass(Backend& be, std::span<const SequenceStep> steps, const TokenIo& io, int64_t hidden)
    : be_(be),
      frame_(be),
      steps_(steps),
      io_(io),
      seqs(sequence_rows(steps, tokens_)),
      n(int64_t(tokens_.size())),
      h(be.act(n, hidden)),
      x(be.act(n, hidden)),
      a(be.act(n, hidden)) {
    be.embed(io.embed, tokens_, h);
}

void DecoderPass::finish(float eps) {
    for (const SequenceRows& s : seqs) s.state->n_past += s.n;
    io_.logits(be_, h, steps_, seqs, eps);
}

std::unique_ptr<ModelState> kv_cache_state(Backend& be, const ModelConfig& c, int64_t capacity, KvCacheType type) {
    auto s = std::make_unique<ModelState>();
    s->capacity = capacity;
    for (int64_t l = 0; l < c.n_layers; ++l) s->layers.push_back(be.kv_cache(capacity, c.n_kv_heads, c.head_dim, type));
    return s;
}

}  // namespace sluice
