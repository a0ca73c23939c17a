#include <gtest/gtest.h>

#include "test_support.h"
#include "util/file_reader.h"

namespace sluice {
namespace {

TEST(FileReader, ReadsTheRangeAskedFor) {
    test::TempDir tmp;
    test::write_file(tmp.file("f"), "0123456789");
    FileReader reader(tmp.file("f"));
    std::string got(4, '\0');
    reader.read(3, 4, got.data(), "tensor t");
    EXPECT_EQ(got, "3456");
}

TEST(FileReader, ARangePastTheEndNamesTheFileAndTheTensor) {
    test::TempDir tmp;
    test::write_file(tmp.file("f"), "0123456789");
    FileReader reader(tmp.file("f"));
    std::string got(8, '\0');
    EXPECT_EQ(test::error_of([&] { reader.read(6, 8, got.data(), "tensor blk.0.ffn_up_exps.weight (expert 3)"); }),
              tmp.file("f") + ": reading tensor blk.0.ffn_up_exps.weight (expert 3) failed: the file ends at byte 10, "
                              "before the 8 bytes at offset 6");
}

TEST(FileReader, AMissingFileIsAnError) {
    test::TempDir tmp;
    EXPECT_EQ(test::error_of([&] { FileReader reader(tmp.file("gone.gguf")); }),
              tmp.file("gone.gguf") + ": cannot open: No such file or directory");
}

}  // namespace
}  // namespace sluice
