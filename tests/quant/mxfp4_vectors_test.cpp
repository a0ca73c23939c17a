// MXFP4 against vectors written by llama.cpp's own ggml (tools/ggml_vectors/): sluice's
// quantiser must write ggml's bytes for the same floats, and its reference dequantiser must read
// them to ggml's floats, bit for bit (the fast ones equal the reference: matmul_test.cpp). Unlike
// ggml_match_test.cpp this needs no llama.cpp installed.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "quant/types.h"
#include "test_support.h"

namespace sluice {
namespace {

struct Vectors {
    std::vector<float> input, dequantized;
    std::vector<uint8_t> blocks;
};

Vectors load_vectors() {
    const int64_t n = 1024;
    const std::string bytes = test::read_file(test::source_dir() + "/tests/data/mxfp4/ggml_vectors.bin");
    const size_t block_bytes = row_bytes(GgmlType::MXFP4, n);
    EXPECT_EQ(bytes.size(), 8 * n + block_bytes);
    Vectors v{std::vector<float>(n), std::vector<float>(n), std::vector<uint8_t>(block_bytes)};
    if (bytes.size() != 8 * n + block_bytes) return v;
    std::memcpy(v.input.data(), bytes.data(), 4 * n);
    std::memcpy(v.blocks.data(), bytes.data() + 4 * n, block_bytes);
    std::memcpy(v.dequantized.data(), bytes.data() + 4 * n + block_bytes, 4 * n);
    return v;
}

TEST(Mxfp4Vectors, QuantiserWritesGgmlBytes) {
    const Vectors v = load_vectors();
    std::vector<uint8_t> got(v.blocks.size());
    quantize_row_ref(GgmlType::MXFP4, v.input.data(), got.data(), int64_t(v.input.size()));
    for (size_t b = 0; b < got.size() / 17; ++b)
        EXPECT_EQ(std::memcmp(got.data() + 17 * b, v.blocks.data() + 17 * b, 17), 0) << "block " << b;
}

TEST(Mxfp4Vectors, DequantiserReadsGgmlFloats) {
    const Vectors v = load_vectors();
    const int64_t n = int64_t(v.input.size());
    std::vector<float> got(v.input.size());
    dequantize_row_ref(GgmlType::MXFP4, v.blocks.data(), got.data(), n);
    EXPECT_EQ(std::memcmp(got.data(), v.dequantized.data(), 4 * size_t(n)), 0);
}

TEST(Mxfp4Vectors, BlockLayoutAndScale) {
    // e = 128: E2M1 code 7 is 6.0 and the block scale 2^(e−127) = 2, so 12; code 9 is −0.5 → −1.
    uint8_t block[17] = {128};
    block[1] = 0x97;   // value 0 = code 7 (+12·d), value 16 = code 9 (−1·d)
    std::vector<float> y(32);
    dequantize_row_ref(GgmlType::MXFP4, block, y.data(), 32);
    EXPECT_EQ(y[0], 12.0f);
    EXPECT_EQ(y[16], -1.0f);
    EXPECT_EQ(y[1], 0.0f);
    EXPECT_THROW(row_bytes(GgmlType::MXFP4, 48), std::exception);
}

}  // namespace
}  // namespace sluice
