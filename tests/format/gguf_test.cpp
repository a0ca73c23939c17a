#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "format/model_desc.h"
#include "test_support.h"
#include "util/error.h"
#include "util/limits.h"

namespace sluice {
namespace {

GgufValue u(GgufValueType t, uint64_t v) { return {t, v}; }
GgufValue i(GgufValueType t, int64_t v) { return {t, v}; }

TEST(Gguf, WriterAndReaderRoundTripEveryValueType) {
    test::TempDir tmp;
    GgufWriter w(64);
    w.set("a.u8", u(GgufValueType::U8, 200));
    w.set("a.i8", i(GgufValueType::I8, -100));
    w.set("a.u16", u(GgufValueType::U16, 60000));
    w.set("a.i16", i(GgufValueType::I16, -30000));
    w.set("a.u32", u(GgufValueType::U32, 4000000000u));
    w.set("a.i32", i(GgufValueType::I32, -2000000000));
    w.set("a.u64", u(GgufValueType::U64, 1ull << 40));
    w.set("a.i64", i(GgufValueType::I64, -(1ll << 40)));
    w.set_f32("a.f32", 0.5f);
    w.set("a.f64", {GgufValueType::F64, 0.125});
    w.set_bool("a.bool", true);
    w.set_string("a.str", "héllo");
    w.set_strings("a.strs", {"x", "", "yz"});
    GgufArray inner{GgufValueType::I32, {i(GgufValueType::I32, 1), i(GgufValueType::I32, 2)}};
    GgufArray outer{GgufValueType::ARRAY, {{GgufValueType::ARRAY, inner}, {GgufValueType::ARRAY, inner}}};
    w.set("a.nested", {GgufValueType::ARRAY, outer});
    std::vector<float> data(3 * 5);
    for (size_t k = 0; k < data.size(); ++k) data[k] = float(k) * 0.25f;
    w.add_tensor("t.f32", {5, 3}, GgmlType::F32, [&](uint8_t* dst, int64_t r0, int64_t n) {
        std::memcpy(dst, data.data() + r0 * 5, size_t(n) * 5 * 4);
    });
    w.add_tensor("t.second", {7}, GgmlType::F32, [](uint8_t* dst, int64_t, int64_t) { std::memset(dst, 0, 28); });
    w.write(tmp.file("x.gguf"));

    GgufFile g(tmp.file("x.gguf"));
    EXPECT_EQ(g.version(), 3u);
    EXPECT_EQ(g.alignment(), 64u);
    EXPECT_EQ(g.data_offset() % 64, 0u);
    EXPECT_EQ(g.get("a.u8").as_int(""), 200);
    EXPECT_EQ(g.get("a.i8").as_int(""), -100);
    EXPECT_EQ(g.get("a.u16").as_int(""), 60000);
    EXPECT_EQ(g.get("a.i16").as_int(""), -30000);
    EXPECT_EQ(g.get("a.u32").as_int(""), 4000000000ll);
    EXPECT_EQ(g.get("a.i32").as_int(""), -2000000000);
    EXPECT_EQ(g.get("a.u64").as_int(""), 1ll << 40);
    EXPECT_EQ(g.get("a.i64").as_int(""), -(1ll << 40));
    EXPECT_EQ(g.get("a.f32").as_float(""), 0.5);
    EXPECT_EQ(g.get("a.f64").as_float(""), 0.125);
    EXPECT_TRUE(g.get("a.bool").as_bool(""));
    EXPECT_EQ(g.get("a.str").as_string(""), "héllo");
    const auto& strs = g.get("a.strs").as_array("");
    ASSERT_EQ(strs.items.size(), 3u);
    EXPECT_EQ(strs.items[2].as_string(""), "yz");
    const auto& nested = g.get("a.nested").as_array("");
    ASSERT_EQ(nested.items.size(), 2u);
    EXPECT_EQ(nested.items[1].as_array("").items[1].as_int(""), 2);
    const GgufTensorInfo* t = g.find_tensor("t.f32");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->ne, (std::vector<int64_t>{5, 3}));
    EXPECT_EQ(std::memcmp(g.mapped()->data() + t->offset, data.data(), 60), 0);
    EXPECT_EQ(g.find_tensor("t.second")->offset % 64, 0u);
    EXPECT_THROW(g.get("missing.key"), Error);
    EXPECT_THROW(g.get("a.str").as_int("a.str"), Error);
}

TEST(Gguf, ReadsLlamaCppFiles) {
    GgufFile g(test::fixture("gguf/qwen3moe-tiny-q8_0.gguf"));
    EXPECT_EQ(g.get("general.architecture").as_string(""), "qwen3moe");
    EXPECT_GT(g.tensors().size(), 20u);
    EXPECT_EQ(g.find_tensor("blk.0.ffn_down_exps.weight")->ne, (std::vector<int64_t>{32, 64, 16}));
}

void expect_rejects(const std::string& bytes, const std::string& needle) {
    test::TempDir tmp;
    test::write_file(tmp.file("bad.gguf"), bytes);
    try {
        GgufFile g(tmp.file("bad.gguf"));
        FAIL() << "accepted a malformed file; expected: " << needle;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

std::string header(uint32_t magic, uint32_t version, uint64_t tensors, uint64_t kvs) {
    std::string s(24, '\0');
    std::memcpy(&s[0], &magic, 4);
    std::memcpy(&s[4], &version, 4);
    std::memcpy(&s[8], &tensors, 8);
    std::memcpy(&s[16], &kvs, 8);
    return s;
}

TEST(Gguf, RejectsMalformedHeaders) {
    expect_rejects("GGU", "truncated GGUF header");
    expect_rejects(header(0x12345678, 3, 0, 0), "bad magic");
    expect_rejects(header(0x46554747, 1, 0, 0), "unsupported GGUF version 1");
    expect_rejects(header(0x46554747, 3, 0, 1ull << 50), "corrupt GGUF header");
    expect_rejects(header(0x46554747, 3, limits::kMaxTensors + 1, 0), "65537 tensors (the limit is 65536)");
    // One key whose string length runs past the end.
    std::string s = header(0x46554747, 3, 0, 1);
    uint64_t len = 1000;
    s.append(reinterpret_cast<const char*>(&len), 8);
    expect_rejects(s + "abc", "truncated GGUF header");
    // A value of an unknown type.
    s = header(0x46554747, 3, 0, 1);
    len = 1;
    s.append(reinterpret_cast<const char*>(&len), 8);
    s += "k";
    uint32_t type = 99;
    s.append(reinterpret_cast<const char*>(&type), 4);
    expect_rejects(s, "unknown value type 99");
}

TEST(Gguf, RejectsMisalignedTensorOffset) {
    test::TempDir tmp;
    GgufWriter w;
    w.add_tensor("t", {8}, GgmlType::F32, [](uint8_t* d, int64_t, int64_t) { std::memset(d, 0, 32); });
    w.write(tmp.file("x.gguf"));
    std::string bytes = test::read_file(tmp.file("x.gguf"));
    // The offset field is the last 8 bytes of the only tensor info.
    size_t at = bytes.find(std::string("t", 1) + std::string("\x01\0\0\0", 4));
    ASSERT_NE(at, std::string::npos);
    uint64_t off = 4;
    std::memcpy(&bytes[at + 1 + 4 + 8 + 4], &off, 8);
    expect_rejects(bytes, "not a multiple of the alignment");
}

// Raw GGUF bytes, for headers no writer would produce.
struct RawGguf {
    std::string bytes;
    RawGguf(uint64_t tensors, uint64_t kvs) : bytes(header(0x46554747, 3, tensors, kvs)) {}
    template <typename T>
    RawGguf& put(T v) {
        bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
        return *this;
    }
    RawGguf& str(const std::string& s) {
        put(uint64_t(s.size()));
        bytes += s;
        return *this;
    }
    RawGguf& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
        str(name).put(uint32_t(ne.size()));
        for (uint64_t n : ne) put(n);
        return put(type).put(offset);
    }
    // Zero bytes up to the data section (alignment 32) and `data` bytes of tensor data.
    RawGguf& data(uint64_t n) {
        bytes.resize((bytes.size() + 31) / 32 * 32 + n, '\0');
        return *this;
    }
};

TEST(Gguf, SizeArithmeticThatWouldOverflowIsRefusedNamingTheTensor) {
    // 2^40 × 2^40 F32 values: the byte count wraps to 0 in 64 bits, which fits any file.
    expect_rejects(RawGguf(1, 0).tensor("huge", {1ull << 40, 1ull << 40}, 0, 0).data(64).bytes,
                   "tensor huge: shape {1099511627776, 1099511627776} of f32 is more than 2^64 bytes");
    // An offset that wraps around when the data section's start is added.
    expect_rejects(RawGguf(1, 0).tensor("wrap", {8}, 0, ~uint64_t(0) - 31).data(64).bytes,
                   "tensor wrap: 32 bytes at offset 18446744073709551584 lie past the end of the file");
}

TEST(Gguf, TensorsThatShareBytesAreRefused) {
    expect_rejects(RawGguf(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).data(64).bytes,
                   "tensors a and b overlap");
    // Adjacent tensors are fine.
    test::TempDir tmp;
    test::write_file(tmp.file("ok.gguf"), RawGguf(2, 0).tensor("a", {8}, 0, 0).tensor("b", {8}, 0, 32).data(64).bytes);
    EXPECT_EQ(GgufFile(tmp.file("ok.gguf")).tensors().size(), 2u);
}

// Limits and guarantees (README): each limit is accepted at the edge and refused one past it.
TEST(Gguf, TensorCountLimit) {
    test::TempDir tmp;
    GgufWriter w;
    for (uint64_t k = 0; k < limits::kMaxTensors; ++k)
        w.add_tensor("t" + std::to_string(k), {8}, GgmlType::F32, [](uint8_t* d, int64_t, int64_t) { std::memset(d, 0, 32); });
    w.write(tmp.file("many.gguf"));
    EXPECT_EQ(GgufFile(tmp.file("many.gguf")).tensors().size(), limits::kMaxTensors);
    std::string bytes = test::read_file(tmp.file("many.gguf"));
    const uint64_t one_more = limits::kMaxTensors + 1;
    std::memcpy(&bytes[8], &one_more, 8);
    expect_rejects(bytes, "65537 tensors (the limit is 65536)");
}

// A write that fails part way (here the file size limit stands in for a full disk) is an error
// naming the file, and leaves neither the file nor its .part behind: a truncated model must not
// be found under the name later.
TEST(Gguf, FailedWriteLeavesNoTruncatedFile) {
    test::TempDir tmp;
    const std::string path = tmp.file("big.gguf");
    GgufWriter w;
    w.add_tensor("t", {1024, 1024}, GgmlType::F32, [](uint8_t* d, int64_t, int64_t n) { std::memset(d, 1, size_t(n) * 4096); });
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {   // the limit applies to this process only
        std::signal(SIGXFSZ, SIG_IGN);   // a write past the limit then fails with EFBIG
        const rlimit limit{1 << 20, 1 << 20};
        setrlimit(RLIMIT_FSIZE, &limit);
        try {
            w.write(path);
        } catch (const Error& e) {
            const std::string what = e.what();
            _exit(what.find(path + ": write failed") != std::string::npos ? 0 : 2);
        }
        _exit(1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the write did not fail; 2: the error did not name the file";
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".part"));
    // Without the limit the same writer writes the whole file.
    w.write(path);
    EXPECT_EQ(GgufFile(path).tensors().size(), 1u);
    EXPECT_FALSE(std::filesystem::exists(path + ".part"));
}

TEST(Gguf, MetadataStringAndArrayLimits) {
    test::TempDir tmp;
    GgufWriter w;
    w.set_string("long", std::string(limits::kMaxMetadataString, 'x'));
    w.set("many", {GgufValueType::ARRAY,
                   GgufArray{GgufValueType::U8, std::vector<GgufValue>(limits::kMaxMetadataArray, u(GgufValueType::U8, 7))}});
    w.write(tmp.file("edge.gguf"));
    {
        GgufFile g(tmp.file("edge.gguf"));
        EXPECT_EQ(g.get("long").as_string("long").size(), limits::kMaxMetadataString);
        EXPECT_EQ(g.get("many").as_array("many").items.size(), limits::kMaxMetadataArray);
    }
    std::string s = RawGguf(0, 1).str("long").put(uint32_t(GgufValueType::STRING)).put(limits::kMaxMetadataString + 1).bytes;
    expect_rejects(s + std::string(limits::kMaxMetadataString + 1, 'x'), "a string value at offset 40 is 16777217 bytes long (the limit is 16777216)");
    s = RawGguf(0, 1).str("many").put(uint32_t(GgufValueType::ARRAY)).put(uint32_t(GgufValueType::U8)).put(limits::kMaxMetadataArray + 1).bytes;
    expect_rejects(s + std::string(limits::kMaxMetadataArray + 1, '\7'), "metadata many: array of 1048577 elements (the limit is 1048576)");
}

// A GGUF with the metadata and tensors of the qwen35moe fixture, some metadata replaced and
// extra (zero) tensors added.
std::string qwen35_variant(const test::TempDir& tmp, const std::map<std::string, GgufValue>& meta,
                           const std::vector<std::pair<std::string, std::vector<int64_t>>>& extra) {
    GgufFile src(test::fixture("gguf/qwen35moe-tiny-f32.gguf"));
    GgufWriter w;
    for (const auto& [k, v] : src.metadata()) w.set(k, meta.count(k) ? meta.at(k) : v);
    for (const auto& t : src.tensors()) {
        const uint8_t* d = src.mapped()->data() + t.offset;
        uint64_t rows = 1;
        for (size_t k = 1; k < t.ne.size(); ++k) rows *= uint64_t(t.ne[k]);
        const uint64_t row = t.bytes / rows;
        w.add_tensor(t.name, t.ne, t.type, [d, row](uint8_t* dst, int64_t r0, int64_t n) {
            std::memcpy(dst, d + uint64_t(r0) * row, uint64_t(n) * row);
        });
    }
    for (const auto& [name, ne] : extra)
        w.add_tensor(name, ne, GgmlType::F32, [ne](uint8_t* dst, int64_t, int64_t n) { std::memset(dst, 0, size_t(n * ne[0] * 4)); });
    const std::string path = tmp.file("variant.gguf");
    w.write(path);
    return path;
}

void expect_model_rejected(const std::string& path, const std::string& needle) {
    try {
        ModelDesc::open(path);
        FAIL() << "accepted; expected: " << needle;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(GgufModel, LayerCountOutsideTheLimitIsRefusedBeforeAllocating) {
    test::TempDir tmp;
    // A zero, negative or 2^40 layer count used to size the per-layer tables before any check.
    for (int64_t blocks : {int64_t(0), int64_t(1) << 40, limits::kMaxLayers + 1})
        expect_model_rejected(qwen35_variant(tmp, {{"qwen35moe.block_count", {GgufValueType::U64, uint64_t(blocks)}}}, {}),
                              "layers (expected 1 to 4096)");
}

TEST(GgufModel, ExpertTensorOfAHugeLayerNumberIsSkipped) {
    test::TempDir tmp;
    // std::stoll used to throw std::out_of_range (not a sluice::Error) on a 20-digit layer number.
    const std::string path = qwen35_variant(tmp, {}, {{"blk.99999999999999999999.ffn_up_exps.weight", {8, 2}}});
    ModelDesc ref = ModelDesc::open(test::fixture("gguf/qwen35moe-tiny-f32.gguf"));
    ModelDesc desc = ModelDesc::open(path);
    EXPECT_EQ(desc.experts.size(), ref.experts.size());
}

}  // namespace
}  // namespace sluice
