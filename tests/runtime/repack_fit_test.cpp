// The in-RAM fit check for interleaved copies (runtime/repack_fit.h), on injected figures.
#include <gtest/gtest.h>

#include "format/synth.h"
#include "model/expert_source.h"
#include "runtime/repack_fit.h"
#include "test_support.h"

namespace sluice {
namespace {

constexpr uint64_t GB = 1000ull * 1000 * 1000;

// The issue-16 file: 17 GB of interleaved experts and dense matrices out of 18.55 GB.
const InMemoryFootprint kQwen30bQ4KM{17 * GB, 1550ull * 1000 * 1000};

TEST(RepackFit, ARepackedTensorCountsOnce) {
    // 22 GB available: the copy plus the rest (18.55 GB) fits in 90% of it (19.8 GB); the copy
    // plus the whole file beside it (35.55 GB), as the mapping used to keep it, would not.
    const RepackDecision d = decide_repack(kQwen30bQ4KM, 22 * GB);
    EXPECT_TRUE(d.repack);
    EXPECT_EQ(d.notice, "");
}

TEST(RepackFit, ACopyThatDoesNotFitFallsBackToTheFileLayoutWithANotice) {
    const RepackDecision d = decide_repack(kQwen30bQ4KM, 20 * GB);   // 90%: 18 GB < 18.55 GB
    EXPECT_FALSE(d.repack);
    EXPECT_EQ(d.notice,
              "sluice: interleaved copies of 15.83 GiB plus 1.44 GiB read through the mapping need 17.28 GiB, more "
              "than 16.76 GiB (90% of the 18.63 GiB available): using the file's layout, as --no-repack");
}

TEST(RepackFit, TheBoundIsNinetyPercentOfTheAvailableMemory) {
    const InMemoryFootprint f{900, 0};
    EXPECT_TRUE(decide_repack(f, 1000).repack);
    EXPECT_FALSE(decide_repack(f, 999).repack);   // 90% of 999 is 890 (whole tenths)
    EXPECT_FALSE(decide_repack({800, 101}, 1000).repack);   // the mapped rest counts too
}

TEST(RepackFit, NothingToCopyIsNoRepackAndNoNotice) {
    const RepackDecision d = decide_repack({0, 100 * GB}, 1 * GB);
    EXPECT_FALSE(d.repack);
    EXPECT_EQ(d.notice, "");
}

// The footprint of a synthetic file: Q4_K_M's Q4_K and Q6_K matrices are copied, its float norms
// and router read in place; Q8_0 copies nothing.
TEST(RepackFit, FootprintSplitsTheModelIntoCopiesAndTheMappedRest) {
    test::TempDir tmp;
    const ModelConfig geometry = synth_geometry(test::source_dir() + "/tests/data/synth-moe-config.json");
    SynthOptions opt;
    opt.layers = 1;
    opt.type = TypeSpec(TypeRecipe::Q4_K_M, GgmlType::Q4_K);
    write_synthetic_gguf(geometry, tmp.file("q4_k_m.gguf"), opt);
    opt.type = GgmlType::Q8_0;
    write_synthetic_gguf(geometry, tmp.file("q8_0.gguf"), opt);

    const ModelDesc q4 = ModelDesc::open(tmp.file("q4_k_m.gguf"));
    const InMemoryFootprint f = repacked_footprint(q4);
    EXPECT_EQ(f.total(), q4.dense_bytes() + q4.expert_bytes());
    uint64_t in_place = 0;   // norms and the router, in float
    for (const auto& [name, t] : q4.tensors)
        if (t.type != GgmlType::Q4_K && t.type != GgmlType::Q6_K) in_place += t.bytes;
    EXPECT_GT(in_place, 0u);
    EXPECT_EQ(f.mapped, in_place);
    EXPECT_EQ(MappedExperts::repacked_bytes(q4), q4.expert_bytes());

    const ModelDesc q8 = ModelDesc::open(tmp.file("q8_0.gguf"));
    const InMemoryFootprint f8 = repacked_footprint(q8);
    EXPECT_EQ(f8.copied, 0u);
    EXPECT_EQ(f8.mapped, q8.dense_bytes() + q8.expert_bytes());
}

}  // namespace
}  // namespace sluice
