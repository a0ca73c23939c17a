// Experts streamed through a cache that holds only one layer's K experts give exactly the
// unbudgeted results, and I/O faults end generation with an error instead of garbage.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>

#include "format/synth.h"
#include "force_isa.h"
#include "kernels/dot.h"
#include "model/model.h"
#include "model/streaming_experts.h"
#include "reference.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

struct Outputs {
    std::vector<float> logits;
    std::vector<int32_t> greedy;
};

Outputs run(const ModelDesc& desc, ExpertSource& experts, const std::vector<int32_t>& prompt, int n_gen,
            bool own_dense) {
    ModelOptions mo;
    mo.own_dense = own_dense;
    auto model = load_model(desc, experts, mo);
    const int64_t V = desc.config.vocab_size, T = int64_t(prompt.size());
    auto state = model->new_state(T + n_gen + 1);
    Outputs out;
    out.logits.resize(size_t(T * V));
    model->forward(*state, prompt.data(), T, out.logits.data(), true);
    std::vector<float> step(out.logits.end() - V, out.logits.end());
    for (int i = 0; i < n_gen; ++i) {
        int32_t next = int32_t(std::max_element(step.begin(), step.end()) - step.begin());
        out.greedy.push_back(next);
        model->forward(*state, &next, 1, step.data(), false);
    }
    return out;
}

void expect_identical_when_streamed(const std::string& model_path, const std::string& ref_path) {
    ModelDesc desc = ModelDesc::open(model_path);
    test::Reference ref(ref_path);
    for (const char* tag : {"a", "b"}) {
        auto prompt = ref.ints(std::string("prompt_") + tag);
        MappedExperts mapped(desc, true);
        Outputs want = run(desc, mapped, prompt, 8, false);
        for (CachePolicy policy : {CachePolicy::Lru, CachePolicy::LfuDecay}) {
            StreamingOptions so;
            so.slots = desc.config.n_experts_used;  // room for one layer's K experts only
            so.policy = policy;
            StreamingExperts streamed(desc, so);
            Outputs got = run(desc, streamed, prompt, 8, true);
            EXPECT_EQ(got.logits, want.logits) << tag;   // bit-identical: same kernels, same bytes
            EXPECT_EQ(got.greedy, want.greedy) << tag;
            ExpertSourceStats st = streamed.stats();
            EXPECT_GT(st.bytes_read, 0u);
            EXPECT_LT(st.hit_rate(), 1.0);
            EXPECT_GT(st.misses, 0u);
        }
    }
}

TEST(Streaming, QwenGgufWithOneLayersExpertsMatchesUnbudgeted) {
    expect_identical_when_streamed(test::fixture("gguf/qwen3moe-tiny-f32.gguf"),
                                   test::fixture("models/qwen3moe-tiny/reference.safetensors"));
}

TEST(Streaming, QwenHfFolderWithOneLayersExpertsMatchesUnbudgeted) {
    expect_identical_when_streamed(test::fixture("models/qwen3moe-tiny"),
                                   test::fixture("models/qwen3moe-tiny/reference.safetensors"));
}

// The hybrid models stream their routed experts the same way; the shared expert stays resident.
TEST(Streaming, Qwen35MoeWithOneLayersExpertsMatchesUnbudgeted) {
    expect_identical_when_streamed(test::fixture("models/qwen35moe-tiny-published"),
                                   test::fixture("models/qwen35moe-tiny-published/reference.safetensors"));
    expect_identical_when_streamed(test::fixture("gguf/qwen35moe-tiny-f32.gguf"),
                                   test::fixture("models/qwen35moe-tiny/reference.safetensors"));
}

TEST(Streaming, Qwen3NextWithOneLayersExpertsMatchesUnbudgeted) {
    expect_identical_when_streamed(test::source_dir() + "/tests/data/qwen3next-tiny",
                                   test::source_dir() + "/tests/data/qwen3next-tiny/reference.safetensors");
}

// gpt-oss streams its routed experts (their biases stay resident with the dense part), prefetch
// included: the router's bias takes part in the prediction as in the routing.
TEST(Streaming, GptOssGgufWithOneLayersExpertsMatchesUnbudgeted) {
    for (const char* file : {"gguf/gptoss-tiny-f32.gguf", "gguf/gptoss-tiny-q8_0.gguf"})
        expect_identical_when_streamed(test::fixture(file), test::fixture("models/gptoss-tiny/reference.safetensors"));
}

// Hugging Face gpt-oss experts (bf16 or MXFP4) are rewritten in memory at load: there is no file
// layout to stream, and the budgeted source says so in one line.
TEST(Streaming, GptOssHfFolderIsRefusedWithOneLine) {
    ModelDesc desc = ModelDesc::open(test::fixture("models/gptoss-tiny"));
    StreamingOptions so;
    so.slots = desc.config.n_experts_used;
    try {
        StreamingExperts streamed(desc, so);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot be streamed under --mem; use llama.cpp's GGUF of it"),
                  std::string::npos)
            << e.what();
    }
}

// Dense first layers have no experts to stream; the prefetch of the next layer's experts starts
// from the first MoE layer.
TEST(Streaming, Glm4MoeWithOneLayersExpertsMatchesUnbudgeted) {
    expect_identical_when_streamed(test::fixture("models/glm4moe-tiny"),
                                   test::fixture("models/glm4moe-tiny/reference.safetensors"));
    expect_identical_when_streamed(test::fixture("gguf/glm4moe-tiny-q8_0.gguf"),
                                   test::fixture("models/glm4moe-tiny/reference.safetensors"));
}

TEST(Streaming, DeepSeek3WithOneLayersExpertsMatchesUnbudgeted) {
    expect_identical_when_streamed(test::fixture("models/deepseek3-tiny"),
                                   test::fixture("models/deepseek3-tiny/reference.safetensors"));
    expect_identical_when_streamed(test::fixture("gguf/deepseek3-tiny-q8_0.gguf"),
                                   test::fixture("models/deepseek3-tiny/reference.safetensors"));
}

// Q4_K and Q6_K weights interleaved for decode (kernels/repack.h): dense ones and experts copied from the
// mapped file at load, the one combination the engine builds (without --mem; under a budget
// nothing is interleaved and streamed experts keep the file's layout). The portable kernels' interleaved dot unpacks each row and runs their row kernel, so
// there the logits must equal the file layout's bit for bit: every matrix the model multiplies
// is laid out and read correctly. The fast interleaved kernels add in another order; they are
// checked against the reference in tests/kernels/matmul_test.cpp, not here: a random model turns
// their ~2e-7 relative rounding per product into ~1e-2 at the logits (as switching between AVX2
// and portable kernels does). `config`: a synthetic geometry in tests/data whose matrices can be
// interleaved; `type`: Q4_K, or q4_k_m's mix of Q4_K and Q6_K.
void expect_interleaved_matches_file_layout(const std::string& config, int64_t layers, TypeSpec type = GgmlType::Q4_K) {
    test::TempDir tmp;
    const std::string path = tmp.file("synth.gguf");
    SynthOptions opt;
    opt.type = type;
    opt.layers = layers;
    write_synthetic_gguf(synth_geometry(test::source_dir() + "/tests/data/" + config), path, opt);
    ModelDesc desc = ModelDesc::open(path);
    const std::vector<int32_t> prompt = {1, 17, 400, 1000, 9, 23, 777, 5};
    auto run_with = [&](ExpertSource& experts, bool own_dense, bool repack) {
        ModelOptions mo;
        mo.own_dense = own_dense;
        mo.repack = repack;
        auto model = load_model(desc, experts, mo);
        const int64_t V = desc.config.vocab_size, T = int64_t(prompt.size());
        auto state = model->new_state(T + 4);
        std::vector<float> logits(size_t(T * V));
        model->forward(*state, prompt.data(), T, logits.data(), true);
        std::vector<float> step(static_cast<size_t>(V));
        for (int i = 0; i < 3; ++i) {   // decode steps: matrix × vector
            const int32_t next = int32_t(i * 301 + 7);
            model->forward(*state, &next, 1, step.data(), false);
            logits.insert(logits.end(), step.begin(), step.end());
        }
        return logits;
    };
    test::ForceIsa portable(kernels::Isa::Portable);
    MappedExperts plain(desc, false), copied(desc, true);
    const std::vector<float> want = run_with(plain, false, false);
    EXPECT_EQ(run_with(copied, false, true), want);   // dense and experts interleaved
}

TEST(Streaming, InterleavedQ4KQwen3MoeMatchesTheFileLayout) {
    expect_interleaved_matches_file_layout("synth-moe-config.json", 2);
}

// Qwen3.5: DeltaNet, gated attention and shared-expert matrices interleaved too.
TEST(Streaming, InterleavedQ4KQwen35MoeMatchesTheFileLayout) {
    expect_interleaved_matches_file_layout("synth-qwen35-config.json", 0);
}

// Q4_K_M: the output head, attn_v and the last layer's ffn_down (experts included) are Q6_K.
TEST(Streaming, InterleavedQ4KMQwen3MoeMatchesTheFileLayout) {
    expect_interleaved_matches_file_layout("synth-moe-config.json", 2, TypeSpec(TypeRecipe::Q4_K_M, GgmlType::Q4_K));
}

TEST(Streaming, RefusesFewerSlotsThanExpertsPerToken) {
    ModelDesc desc = ModelDesc::open(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    StreamingOptions so;
    so.slots = 3;
    EXPECT_THROW(StreamingExperts(desc, so), Error);
}

TEST(Streaming, FileTruncatedUnderUsEndsWithAnError) {
    test::TempDir tmp;
    std::string path = tmp.file("m.gguf");
    std::filesystem::copy_file(test::fixture("gguf/qwen3moe-tiny-f32.gguf"), path);
    ModelDesc desc = ModelDesc::open(path);
    StreamingOptions so;
    so.slots = 4;
    StreamingExperts streamed(desc, so);
    ModelOptions mo;
    mo.own_dense = true;
    auto model = load_model(desc, streamed, mo);
    std::filesystem::resize_file(path, desc.experts[0].gate.experts[0].offset + 100);
    auto state = model->new_state(8);
    std::vector<int32_t> prompt = {1, 2, 3};
    std::vector<float> logits(static_cast<size_t>(desc.config.vocab_size));
    try {
        model->forward(*state, prompt.data(), 3, logits.data(), false);
        FAIL() << "no error after the file was truncated";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("short read"), std::string::npos) << e.what();
    }
}

// Prefill under a budget (issue 17): a prompt run in ubatches of 6 tokens through a cache that
// holds a third of the experts — each ubatch's request is a scan (more experts than a token's K),
// so misses past the cached share go to transient slots, and the next layer's predicted experts
// are read while a layer computes — gives bit for bit the logits of the unbudgeted run in the
// same ubatches, then the same greedy tokens. Under LFU the cache keeps experts across ubatches:
// the second ubatch hits.
void expect_budgeted_prefill_matches(const std::string& model_path) {
    const ModelDesc desc = ModelDesc::open(model_path);
    const int64_t V = desc.config.vocab_size, T = 40, ubatch = 6;
    std::mt19937 rng(17);
    std::uniform_int_distribution<int32_t> token(0, int32_t(V - 1));
    std::vector<int32_t> prompt(static_cast<size_t>(T));
    for (auto& t : prompt) t = token(rng);
    // Logits of every prompt position, then of 4 greedy steps; the source's stats after each ubatch.
    auto run = [&](ExpertSource& experts, bool own_dense, std::vector<ExpertSourceStats>& after) {
        ModelOptions mo;
        mo.own_dense = own_dense;
        mo.repack = false;   // the file's layout, as streamed experts keep it
        auto model = load_model(desc, experts, mo);
        auto state = model->new_state(T + 8);
        std::vector<float> logits(size_t(T * V));
        for (int64_t i = 0; i < T; i += ubatch) {
            const int64_t n = std::min(ubatch, T - i);
            model->forward(*state, prompt.data() + i, n, logits.data() + i * V, true);
            after.push_back(experts.stats());
        }
        std::vector<float> step(logits.end() - V, logits.end());
        for (int i = 0; i < 4; ++i) {
            const int32_t next = int32_t(std::max_element(step.begin(), step.end()) - step.begin());
            model->forward(*state, &next, 1, step.data(), false);
            logits.insert(logits.end(), step.begin(), step.end());
        }
        return logits;
    };
    std::vector<ExpertSourceStats> unused;
    MappedExperts mapped(desc, false);
    const std::vector<float> want = run(mapped, false, unused);
    for (CachePolicy policy : {CachePolicy::LfuDecay, CachePolicy::Lru})
        for (bool prefetch : {true, false}) {
            SCOPED_TRACE(policy_name(policy) + (prefetch ? " with prefetch" : " without prefetch"));
            StreamingOptions so;
            so.slots = desc.config.n_layers * desc.config.n_experts / 3;
            so.policy = policy;
            so.prefetch = prefetch;
            StreamingExperts streamed(desc, so);
            std::vector<ExpertSourceStats> after;
            EXPECT_EQ(run(streamed, true, after), want);   // bit-identical: same kernels, same bytes
            ASSERT_GE(after.size(), 3u);
            EXPECT_GT(after.back().misses, 0u);
            // Without prefetch every hit is an expert the cache kept, none one read just ahead.
            if (policy == CachePolicy::LfuDecay && !prefetch) {
                EXPECT_GT(after[1].hits - after[0].hits, 0u) << "the second ubatch";
            }
        }
}

TEST(Streaming, Qwen3MoePrefillInUbatchesUnderABudgetMatchesUnbudgeted) {
    expect_budgeted_prefill_matches(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
}

TEST(Streaming, Qwen35MoePrefillInUbatchesUnderABudgetMatchesUnbudgeted) {
    expect_budgeted_prefill_matches(test::fixture("gguf/qwen35moe-tiny-f32.gguf"));
}

// On a skewed (Zipf) routing trace the frequency-aware policy keeps the popular experts.
TEST(Streaming, FrequencyAwarePolicyBeatsLruOnSkewedRouting) {
    ModelDesc desc = ModelDesc::open(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    const int E = int(desc.config.n_experts);
    std::vector<double> weights;
    for (int e = 0; e < E; ++e) weights.push_back(1.0 / (e + 1));
    auto hit_rate = [&](CachePolicy policy) {
        StreamingOptions so;
        so.slots = 6;
        so.policy = policy;
        so.prefetch = false;
        StreamingExperts cache(desc, so);
        std::mt19937 rng(7);
        std::discrete_distribution<int> zipf(weights.begin(), weights.end());
        for (int i = 0; i < 3000; ++i) {
            int32_t e = zipf(rng);
            cache.with_experts(i % 4, std::span<const int32_t>(&e, 1), [](std::span<const ReadyExpert>) {});
        }
        return cache.stats().hit_rate();
    };
    double lru = hit_rate(CachePolicy::Lru), lfu = hit_rate(CachePolicy::LfuDecay);
    EXPECT_GT(lfu, lru) << "lru " << lru << " lfu " << lfu;
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// Runs `s` as decode would until prefetching pauses (at most 1000 steps): step i requests layer
// i mod L for used(i), and while prefetching is on it first predicts the next layer's experts,
// predicted(i + 1). Returns the steps taken.
template <class Predicted, class Used>
int64_t run_until_paused(StreamingExperts& s, int64_t L, const Predicted& predicted, const Used& used) {
    int64_t steps = 0;
    while (s.wants_prefetch() && steps < 1000) {
        s.prefetch((steps + 1) % L, predicted(steps + 1));
        s.with_experts(steps % L, used(steps), [](std::span<const ReadyExpert>) {});
        ++steps;
    }
    return steps;
}

// Counts the layer requests until prefetching resumes (at most 10,000).
template <class Used>
int64_t pause_length(StreamingExperts& s, int64_t L, const Used& used) {
    int64_t paused = 0;
    while (!s.wants_prefetch() && paused < 10000) {
        s.with_experts(paused % L, used(paused), [](std::span<const ReadyExpert>) {});
        ++paused;
    }
    return paused;
}

struct PrefetchFixture {
    ModelDesc desc = ModelDesc::open(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    int64_t L = desc.config.n_layers;   // 4 layers, 16 experts, K = 4
    StreamingOptions so = [] {
        StreamingOptions o;
        o.slots = 8;   // two layers' K: a wrong prediction is evicted before anyone asks for it
        return o;
    }();
    std::vector<int32_t> a = {0, 1, 2, 3}, b = {4, 5, 6, 7}, c = {8, 9, 10, 11}, d = {12, 13, 14, 15};
    // Layers alternate between a and b (L is even, so each layer always asks for the same four).
    std::function<std::vector<int32_t>(int64_t)> used = [this](int64_t i) { return i % 2 ? a : b; };
};

// Predictions that are never used (routing that cannot be predicted) pause prefetching at the
// window's early look, after 64 wasted reads rather than 256, for 64 tokens' worth of layer
// requests; each further wrong window in a row doubles the pause. Right predictions never pause.
TEST(Streaming, PrefetchPausesEarlyAndLongerEachTimeWhilePredictionsAreWrong) {
    PrefetchFixture f;
    StreamingExperts wrong(f.desc, f.so), right(f.desc, f.so);
    // Predict c or d, use a or b: every prediction is read and never used.
    const auto wrong_guess = [&](int64_t i) { return i % 2 ? f.c : f.d; };
    const int64_t steps = run_until_paused(wrong, f.L, wrong_guess, f.used);
    EXPECT_LT(steps, 1000) << "never paused";
    EXPECT_GE(wrong.stats().prefetch_issued, 64u);
    EXPECT_LT(wrong.stats().prefetch_issued, 128u) << "not paused at the early look";
    EXPECT_EQ(run_until_paused(right, f.L, f.used, f.used), 1000) << "paused although every prediction was used";
    EXPECT_GE(right.stats().prefetch_issued, 256u);
    EXPECT_EQ(right.stats().prefetch_used + 4, right.stats().prefetch_issued);   // the last step's is not asked for yet

    EXPECT_EQ(pause_length(wrong, f.L, f.used), 64 * f.L);
    EXPECT_LT(run_until_paused(wrong, f.L, wrong_guess, f.used), 1000);
    EXPECT_EQ(pause_length(wrong, f.L, f.used), 128 * f.L);
}

// Predictions three quarters right pass the early look and pause at the full window of 256 (under
// the 80% at which prefetching pays).
TEST(Streaming, PrefetchThreeQuartersRightPausesAtTheFullWindow) {
    PrefetchFixture f;
    StreamingExperts s(f.desc, f.so);
    const std::vector<int32_t> a3 = {0, 1, 2, 12}, b3 = {4, 5, 6, 13};
    const int64_t steps = run_until_paused(s, f.L, [&](int64_t i) { return i % 2 ? a3 : b3; }, f.used);
    EXPECT_LT(steps, 1000) << "never paused";
    const ExpertSourceStats st = s.stats();
    EXPECT_GE(st.prefetch_issued, 256u) << "paused at the early look although 3 of 4 predictions were used";
    EXPECT_NEAR(double(st.prefetch_used) / double(st.prefetch_issued), 0.75, 0.05);
    EXPECT_EQ(pause_length(s, f.L, f.used), 64 * f.L);
}

}  // namespace
}  // namespace sluice
