// The grid-indexed IQ dequantisers against blocks llama.cpp wrote and the floats its own
// dequantisers made of them (tests/data/iq/*.bin, from tools/iq_vectors/make.sh), bit for bit;
// both blocks it quantised and blocks of random bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "quant/types.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

struct Vectors {
    GgmlType type;
    int64_t values = 0;
    int quantised_rows = 0;                  // the first rows: ggml_quantize_chunk of `source`
    std::vector<std::vector<float>> source;
    std::vector<std::vector<uint8_t>> blocks;
    std::vector<std::vector<float>> floats;  // ggml's dequantisation of each row
};

Vectors read_vectors(const std::string& name) {
    const std::string bytes = test::read_file(test::source_dir() + "/tests/data/iq/" + name + ".bin");
    size_t at = 0;
    auto take = [&](void* dst, size_t n) {
        if (at + n > bytes.size()) throw std::runtime_error(name + ".bin: truncated");
        std::memcpy(dst, bytes.data() + at, n);
        at += n;
    };
    char magic[4];
    uint32_t header[4];
    take(magic, 4);
    take(header, sizeof header);
    if (std::memcmp(magic, "SLIQ", 4) != 0) throw std::runtime_error(name + ".bin: not a SLIQ file");
    Vectors v{GgmlType(header[0]), header[1], int(header[2]), {}, {}, {}};
    const size_t rb = row_bytes(v.type, v.values);
    for (uint32_t r = 0; r < header[2] + header[3]; ++r) {
        if (r < header[2]) {
            v.source.emplace_back(size_t(v.values));
            take(v.source.back().data(), size_t(v.values) * 4);
        }
        v.blocks.emplace_back(rb);
        take(v.blocks.back().data(), rb);
        v.floats.emplace_back(size_t(v.values));
        take(v.floats.back().data(), size_t(v.values) * 4);
    }
    if (at != bytes.size()) throw std::runtime_error(name + ".bin: trailing bytes");
    return v;
}

TEST(IqVectors, DequantisersEqualLlamaCppBitForBit) {
    const struct {
        const char* file;
        GgmlType type;
    } cases[] = {{"iq2_xxs", GgmlType::IQ2_XXS}, {"iq2_xs", GgmlType::IQ2_XS}, {"iq2_s", GgmlType::IQ2_S},
                 {"iq3_xxs", GgmlType::IQ3_XXS}, {"iq3_s", GgmlType::IQ3_S},   {"iq1_s", GgmlType::IQ1_S},
                 {"iq1_m", GgmlType::IQ1_M}};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.file);
        const Vectors v = read_vectors(c.file);
        ASSERT_EQ(v.type, c.type);
        ASSERT_EQ(v.blocks.size(), 6u);
        for (size_t r = 0; r < v.blocks.size(); ++r) {
            std::vector<float> got(size_t(v.values));
            dequantize_row_ref(v.type, v.blocks[r].data(), got.data(), v.values);
            size_t differ = 0;
            for (size_t i = 0; i < got.size(); ++i) differ += std::memcmp(&got[i], &v.floats[r][i], 4) != 0;
            EXPECT_EQ(differ, 0u) << "row " << r;
        }
    }
}

// IQ2_XXS, the one IQ grid type sluice writes: the bytes llama.cpp wrote for the same rows with
// a uniform importance matrix.
TEST(IqVectors, Iq2XxsQuantiserWritesLlamaCppBytes) {
    const Vectors v = read_vectors("iq2_xxs");
    ASSERT_EQ(v.quantised_rows, 4);
    for (int r = 0; r < v.quantised_rows; ++r) {
        std::vector<uint8_t> got(v.blocks[size_t(r)].size());
        quantize_row_ref(GgmlType::IQ2_XXS, v.source[size_t(r)].data(), got.data(), v.values);
        EXPECT_EQ(got, v.blocks[size_t(r)]) << "row " << r;
    }
}

TEST(IqVectors, OtherGridTypesAreReadButNotWritten) {
    EXPECT_TRUE(can_quantize(GgmlType::IQ2_XXS));
    for (GgmlType t : {GgmlType::IQ2_XS, GgmlType::IQ2_S, GgmlType::IQ3_XXS, GgmlType::IQ3_S,
                       GgmlType::IQ1_S, GgmlType::IQ1_M}) {
        EXPECT_TRUE(type_info(t).supported) << type_name(t);
        EXPECT_FALSE(can_quantize(t)) << type_name(t);
        std::vector<float> x(256, 1.0f);
        std::vector<uint8_t> out(row_bytes(t, 256));
        try {
            quantize_row_ref(t, x.data(), out.data(), 256);
            ADD_FAILURE() << type_name(t) << " quantised";
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()), std::string("quantisation to type ") + type_name(t) + " is not supported");
        }
    }
    EXPECT_TRUE(can_quantize(GgmlType::Q4_K));
    EXPECT_TRUE(can_quantize(GgmlType::F32));
}

}  // namespace
}  // namespace sluice
