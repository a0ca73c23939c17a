// The three new families again at other dimensions (tests/data/*-other-tiny, made on the GPU
// machine by tools/fixtures/make_other_dims.py with transformers 5.17, float64 references):
// - kimik2-other-tiny: DeepSeek-V3's architecture shaped as Kimi-K2 (one expert group, 24
//   experts top-6, 2 heads, q LoRA 24, KV LoRA 48, nope 24 + rope 8, v 24, YaRN ×4 over 64
//   positions, routed scale 2.827);
// - glm4moe-other-tiny: GLM-4.5-Air's choices (no q/k norm, two dense layers, 6 q / 2 kv heads
//   of 16, 12 experts top-3, routed scale 1);
// - gptoss-other-tiny: three layers (sliding, full, sliding) with a window of 8, 6 q / 2 kv
//   heads of 16, 8 experts top-2, YaRN ×8 over 256.
// From the Hugging Face folders, and from GGUFs written by llama.cpp's own converter (the
// node-llama-cpp 3.22.1 source; its GLM converter needs GLM's own tokenizer, which the tiny
// vocabulary lacks, so GLM has no GGUF here).
#include <gtest/gtest.h>

#include "reference_check.h"
#include "test_support.h"

namespace sluice {
namespace {

std::string data(const std::string& rel) { return test::source_dir() + "/tests/data/" + rel; }

// The bar every float path meets (tests/data/fixtures/README.md).
constexpr float kLogitsTolerance = 1e-3f;

void check(const std::string& model, const std::string& folder) {
    SCOPED_TRACE(model);
    test::LoadedModel m(model);
    const test::Reference ref(data(folder + "/reference.safetensors"));
    test::check_reference_case(*m.model, ref, "a", kLogitsTolerance);
    test::check_reference_case(*m.model, ref, "b", kLogitsTolerance);
}

TEST(OtherDims, KimiK2ShapedDeepSeekV3) {
    check(data("kimik2-other-tiny"), "kimik2-other-tiny");
    check(data("gguf-other/kimik2-other-tiny-f32.gguf"), "kimik2-other-tiny");
}

TEST(OtherDims, Glm45AirShapedGlm4Moe) { check(data("glm4moe-other-tiny"), "glm4moe-other-tiny"); }

TEST(OtherDims, GptOssOfThreeLayers) {
    check(data("gptoss-other-tiny"), "gptoss-other-tiny");
    check(data("gguf-other/gptoss-other-tiny-f32.gguf"), "gptoss-other-tiny");
}

}  // namespace
}  // namespace sluice
