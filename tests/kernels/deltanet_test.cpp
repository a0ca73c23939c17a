#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "error_bound.h"
#include "kernels/deltanet.h"
#include "util/error.h"

namespace sluice {
namespace {

// Weights and T tokens of inputs for one layer, random.
struct Inputs {
    std::vector<float> conv_w, A_log, dt_bias;  // [conv_dim, Kc], [nv], [nv]
    std::vector<float> mixed, a, b;            // [T, conv_dim], [T, nv], [T, nv]
};

Inputs make_inputs(const DeltaNetDims& d, int64_t T, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    auto fill = [&](int64_t n, auto& dist, float scale) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = scale * dist(rng);
        return v;
    };
    Inputs in;
    in.conv_w = fill(int64_t(d.conv_dim()) * d.conv_kernel, normal, 0.5f);
    in.A_log = fill(d.n_v_heads, uni, 1.5f);
    in.dt_bias = fill(d.n_v_heads, uni, 1.0f);
    in.mixed = fill(T * d.conv_dim(), normal, 1.0f);
    in.a = fill(T * d.n_v_heads, normal, 1.0f);
    in.b = fill(T * d.n_v_heads, normal, 1.5f);
    return in;
}

// §B.4 in double precision, token by token, straight from the formulas (HF's A_log form).
class Reference {
public:
    Reference(const DeltaNetDims& d, const Inputs& w) : d_(d), w_(w), S_(size_t(d.n_v_heads * d.k_dim * d.v_dim)) {}

    // Appends T tokens' outputs [T, nv·dv] (inputs from `in`, starting at its token `from`).
    void run(const Inputs& in, int64_t from, int64_t T, std::vector<double>& out) {
        for (int64_t t = from; t < from + T; ++t) step(in, t, out);
    }
    const std::vector<double>& S() const { return S_; }
    const std::vector<std::vector<double>>& history() const { return history_; }

private:
    void step(const Inputs& in, int64_t t, std::vector<double>& out) {
        const int cd = d_.conv_dim(), kc = d_.conv_kernel, nk = d_.n_k_heads, nv = d_.n_v_heads;
        const int dk = d_.k_dim, dv = d_.v_dim;
        history_.emplace_back(in.mixed.begin() + t * cd, in.mixed.begin() + (t + 1) * cd);

        std::vector<double> u(size_t(cd), 0.0);
        for (int c = 0; c < cd; ++c) {
            double acc = 0;
            for (int j = 0; j < kc; ++j) {
                const int64_t tau = int64_t(history_.size()) - kc + j;  // mixed[t − (Kc−1) + j]
                if (tau >= 0) acc += double(w_.conv_w[size_t(c * kc + j)]) * history_[size_t(tau)][size_t(c)];
            }
            u[size_t(c)] = acc / (1 + std::exp(-acc));
        }
        auto l2norm = [](double* x, int n) {
            double ss = 0;
            for (int i = 0; i < n; ++i) ss += x[i] * x[i];
            for (int i = 0; i < n; ++i) x[i] /= std::sqrt(ss + 1e-6);
        };
        for (int g = 0; g < nk; ++g) {
            l2norm(&u[size_t(g * dk)], dk);
            l2norm(&u[size_t(nk * dk + g * dk)], dk);
            for (int i = 0; i < dk; ++i) u[size_t(g * dk + i)] /= std::sqrt(double(dk));
        }
        for (int h = 0; h < nv; ++h) {
            const int kh = d_.tiled_v_heads ? h % nk : h / (nv / nk);
            const double* q = &u[size_t(kh * dk)];
            const double* k = &u[size_t(nk * dk + kh * dk)];
            const double* v = &u[size_t(2 * nk * dk + h * dv)];
            const double x = double(in.a[size_t(t * nv + h)]) + w_.dt_bias[size_t(h)];
            const double softplus = x > 20 ? x : std::log1p(std::exp(x));
            const double g = -std::exp(double(w_.A_log[size_t(h)])) * softplus;
            const double beta = 1 / (1 + std::exp(-double(in.b[size_t(t * nv + h)])));
            double* S = &S_[size_t(h * dk * dv)];
            for (int e = 0; e < dk * dv; ++e) S[e] *= std::exp(g);
            for (int j = 0; j < dv; ++j) {
                double m = 0;
                for (int i = 0; i < dk; ++i) m += S[i * dv + j] * k[i];
                const double delta = beta * (v[j] - m);
                for (int i = 0; i < dk; ++i) S[i * dv + j] += k[i] * delta;
            }
            for (int j = 0; j < dv; ++j) {
                double o = 0;
                for (int i = 0; i < dk; ++i) o += S[i * dv + j] * q[i];
                out.push_back(o);
            }
        }
    }

    DeltaNetDims d_;
    const Inputs& w_;
    std::vector<double> S_;
    std::vector<std::vector<double>> history_;
};

// Runs tokens [from, from+T) of `in` through the kernel.
std::vector<float> run(const DeltaNetDims& d, const Inputs& in, DeltaNetState& st, int64_t from, int64_t T,
                       DeltaNetPath path, ThreadPool& pool, DecayForm form = DecayForm::ALog) {
    std::vector<float> A = in.A_log;
    if (form == DecayForm::NegExp)
        for (float& x : A) x = -std::exp(x);
    const DeltaNetWeights w{in.conv_w.data(), A.data(), form, in.dt_bias.data()};
    std::vector<float> out(size_t(T * d.value_dim()));
    deltanet_forward(d, w, st, T, in.mixed.data() + from * d.conv_dim(), in.a.data() + from * d.n_v_heads,
                     in.b.data() + from * d.n_v_heads, out.data(), pool, path);
    return out;
}

// Largest |x − y| relative to max(1, max |y|).
template <typename A, typename B>
double max_rel_diff(const std::vector<A>& x, const std::vector<B>& y) {
    EXPECT_EQ(x.size(), y.size());
    double err = 0, scale = 1;
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
        err = test::worse(err, std::abs(double(x[i]) - double(y[i])));
        scale = test::worse(scale, std::abs(double(y[i])));
    }
    return err / scale;
}

const char* path_name(DeltaNetPath p) {
    switch (p) {
        case DeltaNetPath::Auto: return "auto";
        case DeltaNetPath::Recurrent: return "recurrent";
        case DeltaNetPath::Scan: return "scan";
        case DeltaNetPath::ScanPortable: return "scan-portable";
    }
    return "?";
}

ThreadPool& pool2() {
    static ThreadPool pool(2);
    return pool;
}

const DeltaNetPath kPaths[] = {DeltaNetPath::Recurrent, DeltaNetPath::Scan, DeltaNetPath::ScanPortable};

TEST(DeltaNet, EveryPathMatchesDoubleReference) {
    struct Geometry {
        int nk, nv, dk, dv, kc;
    };
    const Geometry geoms[] = {{2, 4, 16, 16, 4}, {2, 4, 24, 24, 4}, {2, 4, 16, 24, 4},
                              {3, 3, 24, 16, 4}, {3, 3, 16, 16, 2}, {1, 2, 40, 40, 3}};
    for (const Geometry& g : geoms) {
        for (bool tiled : {false, true}) {
            const DeltaNetDims d{g.nk, g.nv, g.dk, g.dv, g.kc, tiled};
            for (int64_t T : {1, 5, 63, 64, 65, 130}) {
                const Inputs in = make_inputs(d, T, unsigned(T * 31 + g.dk + g.nv));
                Reference ref(d, in);
                std::vector<double> want;
                ref.run(in, 0, T, want);
                for (DeltaNetPath path : kPaths) {
                    SCOPED_TRACE(::testing::Message() << "nk=" << g.nk << " nv=" << g.nv << " dk=" << g.dk << " dv="
                                                      << g.dv << " Kc=" << g.kc << " tiled=" << tiled << " T=" << T
                                                      << " " << path_name(path));
                    DeltaNetState st(d);
                    const std::vector<float> got = run(d, in, st, 0, T, path, pool2());
                    EXPECT_LT(max_rel_diff(got, want), 5e-6);
                    EXPECT_LT(max_rel_diff(st.recurrent, ref.S()), 5e-6);
                    // The conv state holds the last Kc−1 inputs, zeros where there were none.
                    for (int r = 0; r < g.kc - 1; ++r) {
                        const int64_t tau = T - (g.kc - 1) + r;
                        for (int c = 0; c < d.conv_dim(); ++c) {
                            const float expect = tau >= 0 ? in.mixed[size_t(tau * d.conv_dim() + c)] : 0.0f;
                            ASSERT_EQ(st.conv[size_t(r * d.conv_dim() + c)], expect) << "row " << r << " ch " << c;
                        }
                    }
                }
            }
        }
    }
}

TEST(DeltaNet, CallsOfAnySizeContinueTheSequence) {
    // Calls shorter than the conv window read back into the conv state.
    const DeltaNetDims d{2, 4, 16, 24, 4, true};
    const std::vector<int64_t> calls = {1, 2, 1, 5, 3, 70, 1};
    int64_t total = 0;
    for (int64_t n : calls) total += n;
    const Inputs in = make_inputs(d, total, 7);
    Reference ref(d, in);
    std::vector<double> want;
    ref.run(in, 0, total, want);
    for (DeltaNetPath path : {DeltaNetPath::Auto, DeltaNetPath::Recurrent, DeltaNetPath::ScanPortable}) {
        SCOPED_TRACE(path_name(path));
        DeltaNetState st(d);
        std::vector<float> got;
        int64_t at = 0;
        for (int64_t n : calls) {
            const std::vector<float> part = run(d, in, st, at, n, path, pool2());
            got.insert(got.end(), part.begin(), part.end());
            at += n;
        }
        EXPECT_LT(max_rel_diff(got, want), 5e-6);
    }
}

TEST(DeltaNet, DecodeAfterScanPrefillContinuesLikeAllRecurrent) {
    const DeltaNetDims d{2, 4, 24, 24, 4, false};
    const int64_t prompt = 100, decode = 20;
    const Inputs in = make_inputs(d, prompt + decode, 11);
    DeltaNetState scan(d), recurrent(d);
    run(d, in, scan, 0, prompt, DeltaNetPath::Scan, pool2());
    run(d, in, recurrent, 0, prompt, DeltaNetPath::Recurrent, pool2());
    for (int64_t t = prompt; t < prompt + decode; ++t) {
        const std::vector<float> a = run(d, in, scan, t, 1, DeltaNetPath::Auto, pool2());
        const std::vector<float> b = run(d, in, recurrent, t, 1, DeltaNetPath::Auto, pool2());
        for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4) << "token " << t << " value " << i;
    }
}

TEST(DeltaNet, StateCarriesAcrossPrefillCalls) {
    const DeltaNetDims d{2, 4, 16, 16, 4, true};
    const Inputs in = make_inputs(d, 100, 5);
    for (DeltaNetPath path : kPaths) {
        SCOPED_TRACE(path_name(path));
        DeltaNetState whole(d), split(d);
        const std::vector<float> once = run(d, in, whole, 0, 100, path, pool2());
        std::vector<float> twice = run(d, in, split, 0, 70, path, pool2());
        const std::vector<float> rest = run(d, in, split, 70, 30, path, pool2());
        twice.insert(twice.end(), rest.begin(), rest.end());
        EXPECT_LT(max_rel_diff(twice, once), 1e-5);
        EXPECT_LT(max_rel_diff(split.recurrent, whole.recurrent), 1e-5);
        EXPECT_EQ(split.conv, whole.conv);
    }
}

TEST(DeltaNet, ResetStartsAFreshSequence) {
    const DeltaNetDims d{2, 4, 16, 16, 4, false};
    const Inputs in = make_inputs(d, 40, 3);
    DeltaNetState st(d);
    const std::vector<float> first = run(d, in, st, 0, 40, DeltaNetPath::Scan, pool2());
    st.reset();
    EXPECT_EQ(run(d, in, st, 0, 40, DeltaNetPath::Scan, pool2()), first);
}

TEST(DeltaNet, DecayFormsAgree) {
    const DeltaNetDims d{2, 4, 16, 16, 4, true};
    const Inputs in = make_inputs(d, 30, 9);
    DeltaNetState s1(d), s2(d);
    const std::vector<float> hf = run(d, in, s1, 0, 30, DeltaNetPath::Scan, pool2(), DecayForm::ALog);
    const std::vector<float> gguf = run(d, in, s2, 0, 30, DeltaNetPath::Scan, pool2(), DecayForm::NegExp);
    EXPECT_LT(max_rel_diff(gguf, hf), 1e-6);
}

TEST(DeltaNet, ThreadCountDoesNotChangeResults) {
    const DeltaNetDims d{2, 4, 24, 40, 4, false};
    const Inputs in = make_inputs(d, 90, 13);
    ThreadPool one(1), three(3);
    for (DeltaNetPath path : kPaths) {
        SCOPED_TRACE(path_name(path));
        DeltaNetState s1(d), s3(d);
        EXPECT_EQ(run(d, in, s1, 0, 90, path, one), run(d, in, s3, 0, 90, path, three));
        EXPECT_EQ(s1.recurrent, s3.recurrent);
    }
}

TEST(DeltaNet, RejectsBadDimsAndMismatchedState) {
    EXPECT_THROW(DeltaNetState(DeltaNetDims{2, 3, 16, 16, 4, false}), Error);
    EXPECT_THROW(DeltaNetState(DeltaNetDims{2, 4, 0, 16, 4, false}), Error);
    EXPECT_THROW(DeltaNetState(DeltaNetDims{2, 4, 16, 16, 0, false}), Error);

    const DeltaNetDims d{2, 4, 16, 16, 4, false};
    const Inputs in = make_inputs(d, 4, 1);
    DeltaNetState other(DeltaNetDims{2, 4, 16, 16, 4, true});
    EXPECT_THROW(run(d, in, other, 0, 4, DeltaNetPath::Auto, pool2()), Error);
    DeltaNetState st(d);
    const DeltaNetWeights w{in.conv_w.data(), in.A_log.data(), DecayForm::ALog, in.dt_bias.data()};
    std::vector<float> out(size_t(d.value_dim()));
    EXPECT_THROW(deltanet_forward(d, w, st, -1, in.mixed.data(), in.a.data(), in.b.data(), out.data()), Error);
    EXPECT_THROW(deltanet_forward(d, DeltaNetWeights{}, st, 1, in.mixed.data(), in.a.data(), in.b.data(), out.data()),
                 Error);
}

TEST(GatedRmsNorm, MatchesDoubleReference) {
    std::mt19937 rng(4);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int dim : {13, 24, 128}) {
        const int64_t rows = 7;
        std::vector<float> x(static_cast<size_t>(rows * dim)), z(x.size()), w(static_cast<size_t>(dim));
        for (float& v : x) v = 2 * normal(rng);
        for (float& v : z) v = 3 * normal(rng);
        for (float& v : w) v = 1 + 0.2f * normal(rng);
        const float eps = 1e-6f;
        std::vector<double> want(x.size());
        for (int64_t r = 0; r < rows; ++r) {
            double ss = 0;
            for (int j = 0; j < dim; ++j) ss += double(x[size_t(r * dim + j)]) * x[size_t(r * dim + j)];
            const double inv = 1 / std::sqrt(ss / dim + eps);
            for (int j = 0; j < dim; ++j) {
                const size_t i = size_t(r * dim + j);
                const double zi = z[i];
                want[i] = x[i] * inv * w[size_t(j)] * (zi / (1 + std::exp(-zi)));
            }
        }
        std::vector<float> out(x.size());
        gated_rms_norm(x.data(), z.data(), w.data(), rows, dim, eps, out.data(), pool2());
        EXPECT_LT(max_rel_diff(out, want), 1e-6) << dim;
        gated_rms_norm(x.data(), z.data(), w.data(), rows, dim, eps, x.data(), pool2());  // in place
        EXPECT_EQ(x, out) << dim;
    }
    EXPECT_THROW(gated_rms_norm(nullptr, nullptr, nullptr, 1, 0, 1e-6f, nullptr), Error);
}

}  // namespace
}  // namespace sluice
