// Quantised GGUF files, our conversions and llama.cpp's, against the float references.
//
// What quantisation does to these fixtures. The tiny models have random weights, so their
// logits are nearly flat (rms ≈ 1, top-2 gaps often < 0.05) and their routers' margins are as
// small as 2e-3: Q8_0's rounding of weights and activations (0.55% rms each, measured in
// tests/quant) moves logits by a few hundredths and flips some routing decisions, which moves
// them by up to a few units. llama.cpp on the same q8_0 files picks the reference's top-1 at 22
// of 24 positions of prompt_a (qwen3moe-tiny) and 14 of 24 (qwen35moe-tiny), and sluice's
// logits on those files equal llama.cpp's (tests/e2e, Interop.LlamaCppLogitsEqualOursOnQuantisedGguf),
// so no engine reaches the 95% top-1 the issue asked for on qwen35moe-tiny, and only 92–94% on
// qwen3moe-tiny. The tests hold sluice to what quantisation itself allows:
//
//   top-1 agreement ≥ 0.9 (qwen3moe-tiny) and ≥ 0.55 (qwen35moe-tiny): llama.cpp's own rate on
//   these files, floored;
//   rms logit error ≤ 0.1 (qwen3moe-tiny): Q8_0 noise of 0.55% per quantisation, two per
//   matmul (weights, activations: 0.78%), compounds over the ≈ 17 quantised matmuls a logit
//   depends on (4 per layer: q/k/v→o, gate/up→down; plus the head) to 0.78%·√17 ≈ 3.2% of the
//   logits' rms of 1.0; routing flips add about as much again (measured 0.048 and 0.065);
//   twice that is 0.1. qwen35moe-tiny's recurrent DeltaNet state carries each flip into every
//   later position (measured 0.40 and 0.51 with Q8_0 weights, 0.11 and 0.44 even with float
//   activations): ≤ 0.6.
// Our Q8_0 conversion is, tensor for tensor, the bytes llama.cpp's converter wrote.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "error_bound.h"
#include "format/convert.h"
#include "format/gguf.h"
#include "reference_check.h"
#include "test_support.h"

namespace sluice {
namespace {

struct Agreement {
    double top1 = 0;     // fraction of prompt positions whose argmax is the reference's
    float max_abs = 0;   // largest |logit − reference|
    double rms_err = 0;  // root-mean-square logit error
};

Agreement agreement(Model& model, const test::Reference& ref, const std::string& tag) {
    auto prompt = ref.ints("prompt_" + tag);
    auto want = ref.floats("logits_" + tag);
    const int64_t V = model.config().vocab_size, T = int64_t(prompt.size());
    auto state = model.new_state(T + 1);
    std::vector<float> logits(size_t(T * V));
    model.forward(*state, prompt.data(), T, logits.data(), true);
    Agreement a;
    int same = 0;
    double err2 = 0;
    for (int64_t t = 0; t < T; ++t) {
        const float* g = logits.data() + t * V;
        const float* w = want.data() + t * V;
        same += std::max_element(g, g + V) - g == std::max_element(w, w + V) - w;
        for (int64_t v = 0; v < V; ++v) {
            a.max_abs = test::worse(a.max_abs, std::fabs(g[v] - w[v]));
            err2 += double(g[v] - w[v]) * (g[v] - w[v]);
        }
    }
    a.top1 = double(same) / double(T);
    a.rms_err = std::sqrt(err2 / double(T * V));
    return a;
}

struct Case {
    std::string model;
    double min_top1, max_rms;
};

const Case kCases[] = {{"qwen3moe-tiny", 0.9, 0.1}, {"qwen35moe-tiny", 0.55, 0.6}};

std::string convert(const std::string& model, GgmlType type, const test::TempDir& tmp) {
    const std::string out = tmp.file(model + "-" + type_name(type) + ".gguf");
    ConvertOptions options;
    options.type = type;
    convert_to_gguf(ModelDesc::open(test::fixture("models/" + model)), out, options);
    return out;
}

TEST(QuantizedGguf, Q8_0ConversionWritesLlamaCppsTensorBytes) {
    test::TempDir tmp;
    for (const Case& c : kCases) {
        SCOPED_TRACE(c.model);
        const std::string ours_path = convert(c.model, GgmlType::Q8_0, tmp);
        const std::string theirs_path = test::fixture("gguf/" + c.model + "-q8_0.gguf");
        GgufFile ours(ours_path), theirs(theirs_path);
        const std::string ours_bytes = test::read_file(ours_path), theirs_bytes = test::read_file(theirs_path);
        ASSERT_EQ(ours.tensors().size(), theirs.tensors().size());
        for (const GgufTensorInfo& t : theirs.tensors()) {
            const GgufTensorInfo* o = ours.find_tensor(t.name);
            ASSERT_NE(o, nullptr) << t.name;
            EXPECT_EQ(type_name(o->type), std::string(type_name(t.type))) << t.name;
            ASSERT_EQ(o->bytes, t.bytes) << t.name;
            EXPECT_EQ(ours_bytes.compare(o->offset, o->bytes, theirs_bytes, t.offset, t.bytes), 0) << t.name;
        }
    }
}

TEST(QuantizedGguf, Q8_0AgreesWithTheReferenceAsFarAsQuantisationAllows) {
    test::TempDir tmp;
    for (const Case& c : kCases) {
        test::Reference ref(test::fixture("models/" + c.model + "/reference.safetensors"));
        for (const std::string& path : {convert(c.model, GgmlType::Q8_0, tmp), test::fixture("gguf/" + c.model + "-q8_0.gguf")}) {
            test::LoadedModel m(path);
            for (const char* tag : {"a", "b"}) {
                SCOPED_TRACE(path + " prompt_" + tag);
                const Agreement a = agreement(*m.model, ref, tag);
                std::printf("%s prompt_%s: top-1 %.3f, max |Δ| %.3f, rms %.4f\n", path.c_str(), tag, a.top1, a.max_abs, a.rms_err);
                EXPECT_GE(a.top1, c.min_top1);
                EXPECT_LE(a.rms_err, c.max_rms);
            }
        }
    }
}

// gpt-oss: llama.cpp's q8_0 file of gptoss-tiny (Q8_0 attention, experts and head) against the
// float reference. The engines read its YaRN differently (README: GGUF has no `truncate` key;
// llama.cpp rounds the ramp's ends, sluice follows the released configs), and on these near-flat
// random logits that alone moves top-1 picks under Q8_0 noise. So:
// - read as llama.cpp reads it (its f32 file then gives llama.cpp's 4.4e-3 on prompt_a), the
//   rms error is at most llama.cpp's own on this file (tests/interop's peer, each prefix of the
//   prompts: 0.1165 and 0.0839 on prompts a and b; measured 0.1160 and 0.0837). Top-1 is printed,
//   not held: llama.cpp gets 0.833 and 0.887, sluice 0.833 and 0.875; the one position apart
//   (b, 34) has a reference top-2 gap of 0.025, and there llama.cpp's logits, evaluated prefix
//   by prefix with its own summation order, differ from ours by 0.03;
// - read as released (the default), the same noise flips other near-ties: measured top-1 0.792
//   and 0.838, rms 0.1155 and 0.1206. The bounds, top-1 ≥ 0.75 and rms ≤ 0.15, hold a working
//   path to that; a broken one lands far outside (a sliding window one position wide moves the
//   f32 file's logits by 2.5).
TEST(QuantizedGguf, GptOssQ8_0AsFaithfulAsLlamaCpp) {
    test::Reference ref(test::fixture("models/gptoss-tiny/reference.safetensors"));
    for (bool llama_yarn : {true, false}) {
        ModelDesc desc = ModelDesc::open(test::fixture("gguf/gptoss-tiny-q8_0.gguf"));
        desc.config.yarn.truncate = llama_yarn;
        MappedExperts experts(desc, true);
        ModelOptions mo;
        mo.cache_type = KvCacheType::F32;
        auto model = load_model(desc, experts, mo);
        for (const auto& [tag, llama_rms] : {std::pair{"a", 0.1165}, std::pair{"b", 0.0839}}) {
            SCOPED_TRACE(std::string(llama_yarn ? "llama.cpp's YaRN" : "released YaRN") + " prompt_" + tag);
            const Agreement a = agreement(*model, ref, tag);
            std::printf("gptoss-tiny-q8_0 (%s YaRN) prompt_%s: top-1 %.3f, max |Δ| %.3f, rms %.4f\n",
                        llama_yarn ? "llama.cpp's" : "released", tag, a.top1, a.max_abs, a.rms_err);
            if (llama_yarn) {
                EXPECT_LE(a.rms_err, llama_rms);
            } else {
                EXPECT_GE(a.top1, 0.75);
                EXPECT_LE(a.rms_err, 0.15);
            }
        }
    }
}

// The tiny models' rows (64 or 32 values) are not whole 256-value super-blocks, so, as
// llama-quantize does, q4_k writes Q5_0 and q6_k writes Q8_0 there (K-quant blocks end to end:
// tests/e2e Interop on a synthetic model). The figures are printed for bench/RESULTS.md; the
// bounds only catch a broken path (Q5_0 has 4× Q8_0's step: 4× its rms error bound).
TEST(QuantizedGguf, Q4KAndQ6KConversionsStayNearTheReference) {
    test::TempDir tmp;
    for (const Case& c : kCases) {
        test::Reference ref(test::fixture("models/" + c.model + "/reference.safetensors"));
        for (GgmlType type : {GgmlType::Q6_K, GgmlType::Q4_K}) {
            const std::string path = convert(c.model, type, tmp);
            test::LoadedModel m(path);
            EXPECT_EQ(m.desc.find("output.weight")->type, type == GgmlType::Q6_K ? GgmlType::Q8_0 : GgmlType::Q5_0);
            for (const char* tag : {"a", "b"}) {
                SCOPED_TRACE(std::string(c.model) + " " + type_name(type) + " prompt_" + tag);
                const Agreement a = agreement(*m.model, ref, tag);
                std::printf("%s %s prompt_%s: top-1 %.3f, max |Δ| %.3f, rms %.4f\n", c.model.c_str(), type_name(type), tag,
                            a.top1, a.max_abs, a.rms_err);
                EXPECT_LE(a.rms_err, (type == GgmlType::Q6_K ? 1 : 4) * c.max_rms);
            }
        }
    }
}

}  // namespace
}  // namespace sluice
