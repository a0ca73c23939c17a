// The grid-indexed IQ dequantisers against blocks llama.cpp wrote and the floats its own
// dequantisers made of them (tests/data/iq/*.bin, from tools/iq_vectors/make.sh), bit for bit;
// both blocks it quantised and blocks of random bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "quant/iq_vectors.h"
#include "quant/types.h"
#include "util/error.h"

namespace sluice {
namespace {

TEST(IqVectors, DequantisersEqualLlamaCppBitForBit) {
    for (const auto& c : test::kIqVectorFiles) {
        SCOPED_TRACE(c.name);
        const test::IqVectors v = test::read_iq_vectors(c.name);
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
    const test::IqVectors v = test::read_iq_vectors("iq2_xxs");
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
