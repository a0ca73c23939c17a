#include <gtest/gtest.h>
#include <sys/mman.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>

#include "store/reader.h"
#include "store_test_util.h"
#include "util/error.h"

namespace sluice {
namespace {

using test::first_mismatch;

struct AlignedBuffer {
    explicit AlignedBuffer(uint64_t n) : p(static_cast<uint8_t*>(std::aligned_alloc(Reader::kAlign, n))) {}
    ~AlignedBuffer() { std::free(p); }
    uint8_t* p;
};

ReaderOptions options(IoBackend backend, bool direct = true, std::string fault = "") {
    ReaderOptions o;
    o.backend = backend;
    o.direct = direct;
    o.queue_depth = 4;
    o.chunk_bytes = 8192;   // small, so requests split into several chunks
    o.fault = std::move(fault);
    return o;
}

class ReaderBackends : public ::testing::TestWithParam<std::tuple<IoBackend, bool>> {};

TEST_P(ReaderBackends, ReturnsExactBytesAtAlignedAndUnalignedOffsets) {
    auto [backend, direct] = GetParam();
    test::TempDir dir;
    const std::string path = dir.file("data.bin");
    const uint64_t size = 3 << 20;
    test::write_pattern_file(path, size);
    Reader reader({path}, options(backend, direct));
    EXPECT_EQ(reader.backend(), backend);
    EXPECT_EQ(reader.direct(0), direct);

    std::mt19937_64 rng(7);
    struct Want { uint64_t offset, length; std::unique_ptr<AlignedBuffer> buf; };
    std::map<uint64_t, Want> wants;
    for (uint64_t tag = 0; tag < 64; ++tag) {
        const bool aligned = tag % 2 == 0;
        uint64_t length = aligned ? 4096 * (1 + rng() % 40) : 1 + rng() % 100000;
        uint64_t offset = rng() % (size - length);
        if (aligned) offset -= offset % 4096;
        if (tag == 63) offset = size - length;   // ends exactly at the end of the file
        auto buf = std::make_unique<AlignedBuffer>(Reader::span_bytes(offset, length));
        reader.submit({0, offset, length, buf->p, tag, tag % 3 != 0});
        wants[tag] = {offset, length, std::move(buf)};
    }
    size_t got = 0;
    while (auto d = reader.wait()) {
        ASSERT_TRUE(d->ok()) << d->error;
        const Want& w = wants.at(d->tag);
        EXPECT_EQ(first_mismatch(d->data, w.offset, w.length), -1) << "tag " << d->tag;
        ++got;
    }
    EXPECT_EQ(got, wants.size());
    EXPECT_EQ(reader.outstanding(), 0u);
    EXPECT_GT(reader.stats().bytes, 0u);
}

INSTANTIATE_TEST_SUITE_P(Store, ReaderBackends,
                         ::testing::Combine(::testing::Values(IoBackend::Uring, IoBackend::Pread), ::testing::Bool()),
                         [](const auto& info) {
                             return std::string(std::get<0>(info.param) == IoBackend::Uring ? "uring" : "pread") +
                                    (std::get<1>(info.param) ? "_direct" : "_buffered");
                         });

// Reads one request; checks the bytes if it succeeded and returns its error ("" if none).
std::string read_one(Reader& reader, uint64_t offset, uint64_t length) {
    AlignedBuffer buf(Reader::span_bytes(offset, length));
    reader.submit({0, offset, length, buf.p, 1, true});
    std::optional<ReadDone> d = reader.wait();
    if (!d) return "no completion";
    if (d->ok()) EXPECT_EQ(first_mismatch(d->data, offset, length), -1);
    else EXPECT_EQ(d->data, nullptr);
    return d->error;
}

class ReaderFaults : public ::testing::TestWithParam<IoBackend> {};

TEST_P(ReaderFaults, InjectedEioFailsItsRequestOnly) {
    test::TempDir dir;
    const std::string path = dir.file("data.bin");
    test::write_pattern_file(path, 1 << 20);
    for (const char* fault : {"eio@1", "eio@2"}) {
        test::within_seconds(20, [&] {
            Reader reader({path}, options(GetParam(), true, fault));
            // 2 chunks each: the 2nd chunk to finish (either half of the first request) is faulty.
            std::string first = read_one(reader, 100, 12000);
            EXPECT_NE(first.find(path), std::string::npos) << fault << ": " << first;
            EXPECT_NE(first.find("at offset "), std::string::npos) << first;
            EXPECT_EQ(read_one(reader, 100, 12000), "");
        });
    }
}

// EINTR, EAGAIN and a short read are read again: the request gets the right bytes.
TEST_P(ReaderFaults, RetryableFaultsAreReadAgain) {
    test::TempDir dir;
    const std::string path = dir.file("data.bin");
    test::write_pattern_file(path, 1 << 20);
    for (const char* fault : {"eintr@2", "eagain@1", "short@2", "eintr@1,short@2,eagain@3"}) {
        test::within_seconds(20, [&] {
            Reader reader({path}, options(GetParam(), true, fault));
            EXPECT_EQ(read_one(reader, 100, 12000), "") << fault;
            EXPECT_EQ(read_one(reader, 5000, 30000), "") << fault;
        });
    }
    // As many faults in a row as there are retries, and one more: that one fails the request.
    test::within_seconds(20, [&] {
        Reader reader({path}, options(GetParam(), true, "eintr@1,eintr@2,eintr@3,eintr@4"));
        std::string e = read_one(reader, 0, 4096);
        EXPECT_NE(e.find("Interrupted system call"), std::string::npos) << e;
        EXPECT_EQ(read_one(reader, 0, 4096), "");
    });
}

// A read that never completes fails its request at the deadline, marked abandoned (the buffer
// may still be written); other requests and later ones are unaffected.
TEST_P(ReaderFaults, ReadThatNeverCompletesFailsAtTheDeadline) {
    test::TempDir dir;
    const std::string path = dir.file("data.bin");
    test::write_pattern_file(path, 1 << 20);
    test::within_seconds(20, [&] {
        ReaderOptions o = options(GetParam(), true, "hang@1");
        o.deadline_ms = 300;
        o.queue_depth = 1;   // chunks finish in order: the first request's single chunk hangs
        Reader reader({path}, o);
        AlignedBuffer stuck(4096), other(8192);
        const auto t0 = std::chrono::steady_clock::now();
        reader.submit({0, 0, 4096, stuck.p, 1, true});
        reader.submit({0, 8192, 8192, other.p, 2, true});
        std::map<uint64_t, ReadDone> done;
        while (auto d = reader.wait()) done[d->tag] = *d;
        ASSERT_EQ(done.size(), 2u);
        EXPECT_TRUE(done[2].ok()) << done[2].error;
        EXPECT_FALSE(done[2].abandoned);
        EXPECT_TRUE(done[1].abandoned);
        EXPECT_EQ(done[1].error, path + ": read of 4096 bytes at offset 0 did not complete within 300 ms");
        EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
        EXPECT_EQ(reader.outstanding(), 0u);
        EXPECT_EQ(read_one(reader, 100, 12000), "");
    });
}

TEST_P(ReaderFaults, FileTruncatedAfterOpeningFailsWithShortRead) {
    test::TempDir dir;
    const std::string path = dir.file("data.bin");
    test::write_pattern_file(path, 1 << 20);
    test::within_seconds(20, [&] {
        Reader reader({path}, options(GetParam()));
        ASSERT_EQ(::truncate(path.c_str(), 300000), 0);
        std::string cut = read_one(reader, 290000, 50000);
        EXPECT_NE(cut.find(path), std::string::npos) << cut;
        EXPECT_NE(cut.find("short read"), std::string::npos) << cut;
        EXPECT_NE(read_one(reader, 500000, 100), "");
        EXPECT_EQ(read_one(reader, 1000, 200000), "");
    });
}

INSTANTIATE_TEST_SUITE_P(Store, ReaderFaults, ::testing::Values(IoBackend::Uring, IoBackend::Pread),
                         [](const auto& info) { return std::string(info.param == IoBackend::Uring ? "uring" : "pread"); });

TEST(Reader, RejectsMissingFileBadIndexAndUnalignedBuffer) {
    test::TempDir dir;
    EXPECT_THROW(Reader({dir.file("missing.bin")}), Error);
    const std::string path = dir.file("data.bin");
    test::write_pattern_file(path, 8192);
    Reader reader({path});
    AlignedBuffer buf(8192);
    EXPECT_THROW(reader.submit({1, 0, 10, buf.p, 0, true}), Error);
    EXPECT_THROW(reader.submit({0, 0, 10, buf.p + 1, 0, true}), Error);
    EXPECT_FALSE(reader.wait().has_value());   // nothing outstanding: no hang
}

TEST(Reader, EnvironmentSelectsBackendAndFaults) {
    ::setenv("SLUICE_IO", "pread", 1);
    ::setenv("SLUICE_FAULT", "eio@1", 1);
    ReaderOptions o;
    ::unsetenv("SLUICE_IO");
    ::unsetenv("SLUICE_FAULT");
    EXPECT_EQ(o.backend, IoBackend::Pread);
    EXPECT_EQ(o.fault, "eio@1");
    ::setenv("SLUICE_IO", "mmap", 1);
    EXPECT_THROW(ReaderOptions{}, Error);
    ::unsetenv("SLUICE_IO");

    test::TempDir dir;
    const std::string path = dir.file("data.bin");
    test::write_pattern_file(path, 8192);
    for (const char* bad : {"eio", "eio@0", "crash@3", "short@2x", "hang@"}) {
        ReaderOptions b;
        b.fault = bad;
        EXPECT_THROW(Reader({path}, b), Error) << bad;
    }
}

// Pages of the file resident in the page cache, counted through a mapping with mincore().
uint64_t resident_pages(const std::string& path, uint64_t size) {
    int fd = ::open(path.c_str(), O_RDONLY);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return ~0ull;
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> vec((size + page - 1) / page);
    ::mincore(map, size, vec.data());
    ::munmap(map, size);
    uint64_t n = 0;
    for (unsigned char v : vec) n += v & 1;
    return n;
}

// Reads the whole file in 2 MiB requests through the reader.
void read_everything(Reader& reader, uint64_t size) {
    const uint64_t piece = 2 << 20;
    std::vector<std::unique_ptr<AlignedBuffer>> bufs;
    for (int i = 0; i < 8; ++i) bufs.push_back(std::make_unique<AlignedBuffer>(piece));
    for (uint64_t at = 0; at < size; at += piece * bufs.size()) {
        for (size_t i = 0; i < bufs.size() && at + i * piece < size; ++i)
            reader.submit({0, at + i * piece, std::min(piece, size - at - i * piece), bufs[i]->p, i, true});
        while (auto d = reader.wait()) ASSERT_TRUE(d->ok()) << d->error;
    }
}

TEST(Reader, PageCacheDoesNotGrow) {
    test::TempDir dir;
    const std::string path = dir.file("big.bin");
    const uint64_t size = 256ull << 20;
    test::write_pattern_file(path, size);
    const uint64_t pages = size / uint64_t(::sysconf(_SC_PAGESIZE));

    // Control: an ordinary buffered read leaves the file resident, so the count can see it.
    test::drop_from_page_cache(path);
    {
        int fd = ::open(path.c_str(), O_RDONLY);
        std::vector<char> buf(1 << 20);
        while (::read(fd, buf.data(), buf.size()) > 0) {}
        ::close(fd);
    }
    EXPECT_GT(resident_pages(path, size), pages / 2);

    for (IoBackend backend : {IoBackend::Uring, IoBackend::Pread}) {
        for (bool direct : {true, false}) {
            test::drop_from_page_cache(path);
            ReaderOptions o;
            o.backend = backend;
            o.direct = direct;
            Reader reader({path}, o);
            read_everything(reader, size);
            EXPECT_EQ(reader.stats().bytes, size);
            EXPECT_LT(resident_pages(path, size), pages / 100) << "backend " << int(backend) << " direct " << direct;
        }
    }
}

}  // namespace
}  // namespace sluice
