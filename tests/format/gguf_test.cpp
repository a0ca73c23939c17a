#include <gtest/gtest.h>

#include <cstring>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "test_support.h"
#include "util/error.h"

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
    expect_rejects(header(0x46554747, 3, 1ull << 50, 0), "corrupt GGUF header");
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

}  // namespace
}  // namespace sluice
