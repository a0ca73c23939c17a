// sluice's reference quantisers and dequantisers against llama.cpp's own, loaded from the
// libggml-base.so that node-llama-cpp ships (tests/interop/setup.sh): `convert` must write the
// bytes llama-quantize writes (it calls quantize_<type> without an importance matrix), and we
// must read every block as ggml does. Skipped when node-llama-cpp is not installed.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "quant/types.h"
#include "test_rows.h"
#include "test_support.h"

namespace sluice {
namespace {

std::string ggml_library() {
    return test::source_dir() +
           "/tests/interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";
}

class Ggml {
public:
    Ggml() {
        if (std::filesystem::exists(ggml_library())) handle_ = dlopen(ggml_library().c_str(), RTLD_NOW | RTLD_LOCAL);
    }
    ~Ggml() {
        if (handle_) dlclose(handle_);
    }
    bool loaded() const { return handle_ != nullptr; }
    template <class Fn>
    Fn get(const std::string& name) const {
        return reinterpret_cast<Fn>(dlsym(handle_, name.c_str()));
    }

private:
    void* handle_ = nullptr;
};

using QuantizeFn = size_t (*)(const float*, void*, int64_t nrow, int64_t n_per_row, const float* imatrix);
using DequantizeFn = void (*)(const void*, float*, int64_t);

struct Case {
    GgmlType type;
    const char* ggml;  // suffix of quantize_<x> / dequantize_row_<x>
};

const Case kCases[] = {
    {GgmlType::Q4_0, "q4_0"}, {GgmlType::Q4_1, "q4_1"}, {GgmlType::Q5_0, "q5_0"},     {GgmlType::Q5_1, "q5_1"},
    {GgmlType::Q8_0, "q8_0"}, {GgmlType::Q2_K, "q2_K"}, {GgmlType::Q3_K, "q3_K"},     {GgmlType::Q4_K, "q4_K"},
    {GgmlType::Q5_K, "q5_K"}, {GgmlType::Q6_K, "q6_K"}, {GgmlType::IQ4_NL, "iq4_nl"}, {GgmlType::IQ4_XS, "iq4_xs"},
    {GgmlType::MXFP4, "mxfp4"},
};

TEST(GgmlMatch, QuantisersWriteLlamaCppBytes) {
    Ggml ggml;
    if (!ggml.loaded()) GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp's libggml-base.so";
    const int64_t n = 256 * 64;
    for (uint64_t seed : {1u, 2u, 3u}) {
        const std::vector<float> x = test::quant_test_row(n, seed);
        for (const Case& c : kCases) {
            SCOPED_TRACE(std::string(type_name(c.type)) + " seed " + std::to_string(seed));
            auto quantize = ggml.get<QuantizeFn>(std::string("quantize_") + c.ggml);
            ASSERT_NE(quantize, nullptr);
            const size_t bytes = row_bytes(c.type, n), block = type_info(c.type).block_bytes;
            std::vector<uint8_t> want(bytes), got(bytes);
            quantize(x.data(), want.data(), 1, n, nullptr);
            quantize_row_ref(c.type, x.data(), got.data(), n);
            size_t bad_blocks = 0, first_bad = bytes;
            for (size_t b = 0; b < bytes / block; ++b) {
                if (std::memcmp(want.data() + b * block, got.data() + b * block, block) != 0) {
                    ++bad_blocks;
                    first_bad = std::min(first_bad, b);
                }
            }
            EXPECT_EQ(bad_blocks, 0u) << "first differing block " << first_bad << " of " << bytes / block;
        }
    }
}

TEST(GgmlMatch, DequantisersReadBlocksAsLlamaCpp) {
    Ggml ggml;
    if (!ggml.loaded()) GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp's libggml-base.so";
    const int64_t n = 256 * 64;
    const std::vector<float> x = test::quant_test_row(n, 7);
    std::mt19937 rng(7);
    for (const Case& c : kCases) {
        SCOPED_TRACE(type_name(c.type));
        auto dequantize = ggml.get<DequantizeFn>(std::string("dequantize_row_") + c.ggml);
        ASSERT_NE(dequantize, nullptr);
        std::vector<uint8_t> blocks(row_bytes(c.type, n));
        quantize_row_ref(c.type, x.data(), blocks.data(), n);
        // Also random bytes: every bit pattern is a block, infinite and NaN scales included.
        std::vector<uint8_t> noise(blocks.size());
        for (auto& b : noise) b = uint8_t(rng());
        for (const auto* data : {&blocks, &noise}) {
            std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
            dequantize(data->data(), want.data(), n);
            dequantize_row_ref(c.type, data->data(), got.data(), n);
            size_t differ = 0;
            for (size_t i = 0; i < want.size(); ++i)
                differ += !(std::isnan(want[i]) && std::isnan(got[i])) && std::memcmp(&want[i], &got[i], 4) != 0;
            EXPECT_EQ(differ, 0u);
        }
    }
}

// IQ2_XXS with a uniform importance matrix (llama.cpp requires a matrix for it), on the awkward
// rows of test_rows.h.
TEST(GgmlMatch, Iq2XxsQuantiserWritesLlamaCppBytes) {
    Ggml ggml;
    if (!ggml.loaded()) GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp's libggml-base.so";
    using InitFn = void (*)(int type);
    auto init = ggml.get<InitFn>("ggml_quantize_init");
    auto quantize = ggml.get<QuantizeFn>("quantize_iq2_xxs");
    ASSERT_NE(init, nullptr);
    ASSERT_NE(quantize, nullptr);
    init(int(GgmlType::IQ2_XXS));
    const int64_t n = 256 * 64;
    const std::vector<float> imatrix(static_cast<size_t>(n), 1.0f);
    for (uint64_t seed : {1u, 2u}) {
        const std::vector<float> x = test::quant_test_row(n, seed);
        std::vector<uint8_t> want(row_bytes(GgmlType::IQ2_XXS, n)), got(want.size());
        quantize(x.data(), want.data(), 1, n, imatrix.data());
        quantize_row_ref(GgmlType::IQ2_XXS, x.data(), got.data(), n);
        size_t bad_blocks = 0;
        for (size_t b = 0; b < want.size() / 66; ++b) bad_blocks += std::memcmp(&want[b * 66], &got[b * 66], 66) != 0;
        EXPECT_EQ(bad_blocks, 0u) << "seed " << seed;
    }
}

// The grid-indexed IQ types, which sluice reads but does not write, on random bytes (blocks
// ggml's quantisers wrote are in tests/data/iq, iq_vectors_test.cpp: quantising here would cost
// half a minute of ggml's grid set-up).
TEST(GgmlMatch, IqDequantisersReadRandomBlocksAsLlamaCpp) {
    Ggml ggml;
    if (!ggml.loaded()) GTEST_SKIP() << "run tests/interop/setup.sh to install llama.cpp's libggml-base.so";
    const struct {
        GgmlType type;
        const char* ggml;
    } cases[] = {{GgmlType::IQ2_XXS, "iq2_xxs"}, {GgmlType::IQ2_XS, "iq2_xs"}, {GgmlType::IQ2_S, "iq2_s"},
                 {GgmlType::IQ3_XXS, "iq3_xxs"}, {GgmlType::IQ3_S, "iq3_s"},   {GgmlType::IQ1_S, "iq1_s"},
                 {GgmlType::IQ1_M, "iq1_m"}};
    const int64_t n = 256 * 256;
    std::mt19937 rng(11);
    for (const auto& c : cases) {
        SCOPED_TRACE(type_name(c.type));
        auto dequantize = ggml.get<DequantizeFn>(std::string("dequantize_row_") + c.ggml);
        ASSERT_NE(dequantize, nullptr);
        std::vector<uint8_t> noise(row_bytes(c.type, n));
        for (auto& b : noise) b = uint8_t(rng());
        std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
        dequantize(noise.data(), want.data(), n);
        dequantize_row_ref(c.type, noise.data(), got.data(), n);
        size_t differ = 0;
        for (size_t i = 0; i < want.size(); ++i)
            differ += !(std::isnan(want[i]) && std::isnan(got[i])) && std::memcmp(&want[i], &got[i], 4) != 0;
        EXPECT_EQ(differ, 0u);
    }
}

}  // namespace
}  // namespace sluice
