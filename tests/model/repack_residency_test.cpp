// Interleaving (kernels/repack.h) copies a model's Q4_K / Q6_K weights into memory of its own at
// load; the file's pages of the copied bytes must not stay resident beside the copy, or a model
// that fits in RAM once is held twice and thrashes (issue 16). mincore() on the model's mapping
// says which of the file's pages are in the page cache.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <tuple>

#include "format/synth.h"
#include "force_isa.h"
#include "kernels/dot.h"
#include "kernels/repack.h"
#include "model/model.h"
#include "test_support.h"

namespace sluice {
namespace {

const uint64_t kPage = uint64_t(sysconf(_SC_PAGESIZE));

// One flag per page of the mapping: whether the page is in memory.
std::vector<unsigned char> resident_pages(const MappedFile& file) {
    std::vector<unsigned char> flags((file.size() + kPage - 1) / kPage);
    if (::mincore(const_cast<uint8_t*>(file.data()), file.size(), flags.data()) != 0) ADD_FAILURE() << "mincore failed";
    return flags;
}

void write_back(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::fsync(fd), 0) << path;   // dirty pages would not drop
    ::close(fd);
}

// Whether the file system lets cached pages of a written file go (tmpfs keeps them: there the
// test says nothing).
bool page_cache_drops(const test::TempDir& tmp) {
    const std::string probe = tmp.file("probe");
    test::write_file(probe, std::string(16 * kPage, 'x'));
    write_back(probe);
    const int fd = ::open(probe.c_str(), O_RDONLY);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
    const MappedFile f(probe);
    const std::vector<unsigned char> flags = resident_pages(f);
    return std::none_of(flags.begin(), flags.end(), [](unsigned char c) { return c & 1; });
}

// The pages lying wholly inside the bytes of the tensors the load interleaves: every dense matrix
// and every expert projection kernels::can_repack takes (a page shared with a tensor used in
// place must stay).
std::vector<uint64_t> copied_pages(const ModelDesc& desc) {
    std::vector<std::pair<uint64_t, uint64_t>> ranges;   // [begin, end) of the file
    for (const auto& [name, t] : desc.tensors)
        if (t.ne.size() == 2 && kernels::can_repack(Weight{t.type, nullptr, t.ne[1], t.ne[0]}))
            ranges.emplace_back(t.offset, t.offset + t.bytes);
    for (const LayerExperts& le : desc.experts)
        for (const ExpertProjection* p : {&le.gate, &le.up, &le.down})
            if (kernels::can_repack(Weight{p->type, nullptr, p->rows, p->cols}))
                for (const auto& s : p->experts) ranges.emplace_back(s.offset, s.offset + s.bytes);
    std::sort(ranges.begin(), ranges.end());
    std::vector<std::pair<uint64_t, uint64_t>> merged;
    for (const auto& r : ranges) {
        if (!merged.empty() && merged.back().second == r.first) merged.back().second = r.second;
        else merged.push_back(r);
    }
    std::vector<uint64_t> pages;
    for (const auto& [begin, end] : merged)
        for (uint64_t p = (begin + kPage - 1) / kPage; p < end / kPage; ++p) pages.push_back(p);
    return pages;
}

// Logits of a prompt and three decode steps.
std::vector<float> logits_of(Model& model) {
    const std::vector<int32_t> prompt = {1, 17, 400, 1000, 9, 23, 777, 5};
    const int64_t V = model.config().vocab_size, T = int64_t(prompt.size());
    auto state = model.new_state(T + 4);
    std::vector<float> logits(size_t(T * V));
    model.forward(*state, prompt.data(), T, logits.data(), true);
    std::vector<float> step(static_cast<size_t>(V));
    for (int i = 0; i < 3; ++i) {
        const int32_t next = int32_t(i * 301 + 7);
        model.forward(*state, &next, 1, step.data(), false);
        logits.insert(logits.end(), step.begin(), step.end());
    }
    return logits;
}

// Q4_K_M: Q4_K and Q6_K, dense matrices and experts. After the load none of the copied bytes'
// pages is cached, and the model computes what the file's layout computes: the portable kernels'
// interleaved dot runs their row kernel on unpacked rows, so bit for bit (as in streaming_test).
TEST(RepackResidency, CopiedTensorsLeaveNoPagesOfTheFileResident) {
    test::TempDir tmp;
    if (!page_cache_drops(tmp)) GTEST_SKIP() << tmp.path() << " keeps dropped pages cached (tmpfs?)";
    const std::string path = tmp.file("synth.gguf");
    SynthOptions opt;
    opt.type = TypeSpec(TypeRecipe::Q4_K_M, GgmlType::Q4_K);
    opt.layers = 1;
    write_synthetic_gguf(synth_geometry(test::source_dir() + "/tests/data/synth-moe-config.json"), path, opt);
    write_back(path);
    ASSERT_FALSE(test::read_file(path).empty());   // every page in the page cache

    test::ForceIsa portable(kernels::Isa::Portable);
    ModelDesc desc = ModelDesc::open(path);
    const MappedFile& file = *desc.files[0];
    const std::vector<uint64_t> pages = copied_pages(desc);
    ASSERT_GT(pages.size(), file.size() / kPage / 2);   // nearly all of the file is Q4_K / Q6_K
    const std::vector<unsigned char> before = resident_pages(file);
    const auto resident = [&](const std::vector<unsigned char>& flags) {
        return std::count_if(pages.begin(), pages.end(), [&](uint64_t p) { return flags[p] & 1; });
    };
    ASSERT_EQ(resident(before), std::ptrdiff_t(pages.size())) << "the test's premise: the written file is cached";

    MappedExperts copied(desc, true);
    ModelOptions mo;
    mo.repack = true;
    auto model = load_model(desc, copied, mo);
    EXPECT_EQ(resident(resident_pages(file)), 0) << "of " << pages.size() << " pages of interleaved tensors";

    MappedExperts plain(desc, false);
    mo.repack = false;
    auto in_file_layout = load_model(desc, plain, mo);
    EXPECT_EQ(logits_of(*model), logits_of(*in_file_layout));
}

}  // namespace
}  // namespace sluice
