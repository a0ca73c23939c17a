// The shipped demo model (models/demo-moe-11m.gguf) keeps working: its greedy continuation of a
// fixed prompt and its perplexity on the first pages of the held-out book are the recorded ones,
// with the model mapped whole and with its experts streamed under a budget.
#include <gtest/gtest.h>

#include <regex>

#include "cli_support.h"
#include "test_support.h"

namespace sluice {
namespace {

std::string model() { return test::source_dir() + "/models/demo-moe-11m.gguf"; }
// The start of Persuasion's chapter 1 (1,167 tokens), from the book held out of training.
std::string heldout_excerpt() { return test::source_dir() + "/tests/data/persuasion-chapter1.txt"; }

// 47,500,000 bytes leave `run -c 256` an expert cache of 32 of the 128 experts (scripts/demo.sh).
const std::string kBudget = " --mem 47500000";

using test::sluice;

double ppl_of(const std::string& out) {
    std::smatch m;
    static const std::regex final_line(R"(PPL = ([0-9.]+) \+/- [0-9.]+\n$)");
    if (!std::regex_search(out, m, final_line)) {
        ADD_FAILURE() << "no final PPL line in:\n" << out;
        return 0;
    }
    return std::stod(m[1]);
}

const std::string kPrompt = "It was a fine morning, and Elizabeth";

// Recorded from sluice. The bf16 weights it was converted from continue with the same first 11
// tokens (" had a great deal of good-will, and a"), then " little curiosity": the greedy sample
// that transformers wrote in the training log, which sluice reproduces on the bf16 folder.
const std::string kGreedyIds =
    "407 258 612 1777 268 664 12 2902 11 271 258 664 6510 1913 1110 11 271 258 1110 268 664 3582 11 271 258 664 6510 "
    "1913 1110 11 271 258\n";

TEST(DemoModel, GreedyContinuationIsTheRecordedOne) {
    const std::string gen = "run -m " + model() + " -p \"" + kPrompt + "\" -n 32";
    auto ids = sluice(gen + " --ids");
    ASSERT_EQ(ids.exit_code, 0) << ids.err;
    EXPECT_EQ(ids.out, kGreedyIds);
    auto streamed = sluice(gen + " --ids -c 256" + kBudget);
    ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
    EXPECT_EQ(streamed.out, kGreedyIds) << "experts streamed through a cache of a quarter of them";
    auto text = sluice(gen);
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_EQ(text.out.rfind(" had a great deal of good-will, and a good-humoured woman, and a woman of good fortune", 0),
              0u)
        << text.out;
}

// Recorded on the Zen 4 VM of bench/RESULTS.md (AVX-512 with 256-bit VNNI kernels), experts in the
// file's layout: 122.3196. The kernels round differently per instruction set and layout (measured:
// mapped and interleaved for decode 122.3858, 5.4e-4 away; SLUICE_ISA=portable 122.2798, 3.3e-4
// away from the streamed figure), so the bound is 2e-3 relative: over twice the largest of those,
// and still under what one step down in expert precision moves it (q3_k experts instead of q4_k:
// 2.8e-3 on the whole book, RESULTS.md); a broken kernel moves it by far more.
TEST(DemoModel, HeldOutPerplexityIsTheRecordedOne) {
    const double recorded = 122.3196, bound = recorded * 2e-3;
    const std::string base = "perplexity -m " + model() + " -f " + heldout_excerpt() + " --ctx 128";
    auto mapped = sluice(base);
    ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
    EXPECT_NE(mapped.out.find("1167 tokens; 9 chunks of 128"), std::string::npos) << mapped.out;
    EXPECT_NEAR(ppl_of(mapped.out), recorded, bound);
    auto streamed = sluice(base + kBudget);
    ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
    EXPECT_NEAR(ppl_of(streamed.out), recorded, bound);
}

}  // namespace
}  // namespace sluice
