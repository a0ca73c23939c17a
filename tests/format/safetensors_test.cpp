#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "format/model_desc.h"
#include "format/safetensors.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

// A safetensors file holding float32 tensors named in `tensors` with the given values.
void write_safetensors(const std::string& path, const std::map<std::string, std::vector<float>>& tensors) {
    nlohmann::json h;
    std::string data;
    for (const auto& [name, v] : tensors) {
        h[name] = {{"dtype", "F32"}, {"shape", {int64_t(v.size())}}, {"data_offsets", {data.size(), data.size() + v.size() * 4}}};
        data.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    }
    std::string js = h.dump();
    uint64_t n = js.size();
    test::write_file(path, std::string(reinterpret_cast<const char*>(&n), 8) + js + data);
}

TEST(Safetensors, ReadsShardedSetThroughIndex) {
    test::TempDir tmp;
    write_safetensors(tmp.file("a.safetensors"), {{"x", {1, 2, 3}}});
    write_safetensors(tmp.file("b.safetensors"), {{"y", {4, 5}}});
    test::write_file(tmp.file("model.safetensors.index.json"),
                     R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})");
    SafetensorsSet set(tmp.path().string());
    ASSERT_EQ(set.files().size(), 2u);
    const SafetensorsTensor* y = set.find("y");
    ASSERT_NE(y, nullptr);
    float v[2];
    std::memcpy(v, set.data(*y), 8);
    EXPECT_EQ(v[1], 5.0f);
    EXPECT_EQ(set.find("x")->shape, (std::vector<int64_t>{3}));
}

TEST(Safetensors, IndexNamingATensorItsShardLacksIsAnError) {
    test::TempDir tmp;
    write_safetensors(tmp.file("a.safetensors"), {{"x", {1}}});
    test::write_file(tmp.file("model.safetensors.index.json"), R"({"weight_map": {"x": "a.safetensors", "z": "a.safetensors"}})");
    EXPECT_THROW(SafetensorsSet(tmp.path().string()), Error);
}

TEST(Safetensors, ATensorInTwoShardsIsAnErrorNamingBoth) {
    test::TempDir tmp;
    write_safetensors(tmp.file("a.safetensors"), {{"x", {1}}});
    write_safetensors(tmp.file("b.safetensors"), {{"x", {2}}, {"y", {3}}});
    test::write_file(tmp.file("model.safetensors.index.json"),
                     R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})");
    try {
        SafetensorsSet set(tmp.path().string());
        FAIL() << "a tensor in two shards was accepted";
    } catch (const Error& e) {
        const std::string message = e.what();
        for (const char* needle : {"tensor x is also in", "a.safetensors", "b.safetensors"})
            EXPECT_NE(message.find(needle), std::string::npos) << message;
    }
}

TEST(Safetensors, RejectsTruncatedAndInconsistentFiles) {
    test::TempDir tmp;
    write_safetensors(tmp.file("m.safetensors"), {{"x", {1, 2, 3, 4}}});
    std::string bytes = test::read_file(tmp.file("m.safetensors"));
    test::write_file(tmp.file("t.safetensors"), bytes.substr(0, bytes.size() - 4));
    EXPECT_THROW(SafetensorsSet(tmp.file("t.safetensors")), Error);
    test::write_file(tmp.file("h.safetensors"), bytes.substr(0, 6));
    EXPECT_THROW(SafetensorsSet(tmp.file("h.safetensors")), Error);
    std::string wrong = bytes;
    wrong.replace(wrong.find("[4]"), 3, "[5]");
    test::write_file(tmp.file("w.safetensors"), wrong);
    EXPECT_THROW(SafetensorsSet(tmp.file("w.safetensors")), Error);
}

// A safetensors file with this header and `data` zero bytes after it.
std::string raw_safetensors(const std::string& header, size_t data) {
    const uint64_t n = header.size();
    std::string s(reinterpret_cast<const char*>(&n), 8);
    return s + header + std::string(data, '\0');
}

void expect_safetensors_rejected(const std::string& bytes, const std::string& needle) {
    test::TempDir tmp;
    test::write_file(tmp.file("m.safetensors"), bytes);
    try {
        SafetensorsSet set(tmp.file("m.safetensors"));
        FAIL() << "accepted; expected " << needle;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(Safetensors, OverflowingShapesAndSharedBytesAreRefused) {
    // 2^32 × 2^32 × 2 bytes wraps to 0, which matched data_offsets [0, 0) before the check.
    expect_safetensors_rejected(
        raw_safetensors(R"({"x": {"dtype": "BF16", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0),
        "tensor x: shape [4294967296, 4294967296] of BF16 is more than 2^64 bytes");
    expect_safetensors_rejected(
        raw_safetensors(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                            "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", 16),
        "tensors a and b overlap at offset 8");
    expect_safetensors_rejected(raw_safetensors("{}", 0).replace(0, 8, std::string("\0\0\0\0\0\0\0\x10", 8)),
                                "safetensors header of 1152921504606846976 bytes (the limit is 104857600)");
}

TEST(HfModel, BothQwen35LayoutsGiveTheSameExpertBytes) {
    ModelDesc a = ModelDesc::open(test::fixture("models/qwen35moe-tiny"));
    ModelDesc b = ModelDesc::open(test::fixture("models/qwen35moe-tiny-published"));
    ASSERT_EQ(a.config.n_layers, b.config.n_layers);
    EXPECT_EQ(a.config.arch, Arch::Qwen35Moe);
    EXPECT_EQ(b.config.linear_layer, a.config.linear_layer);
    for (size_t l = 0; l < a.experts.size(); ++l) {
        for (int e : {0, 7, 15}) {
            auto bytes = [](const ModelDesc& d, const ExpertProjection& p, int e) {
                const auto& s = p.experts[size_t(e)];
                const uint8_t* q = d.files[size_t(s.file)]->data() + s.offset;
                return std::string(reinterpret_cast<const char*>(q), s.bytes);
            };
            EXPECT_EQ(bytes(a, a.experts[l].gate, e), bytes(b, b.experts[l].gate, e));
            EXPECT_EQ(bytes(a, a.experts[l].up, e), bytes(b, b.experts[l].up, e));
            EXPECT_EQ(bytes(a, a.experts[l].down, e), bytes(b, b.experts[l].down, e));
        }
    }
    EXPECT_EQ(a.tensors.size(), b.tensors.size());
    EXPECT_NE(b.find("blk.0.attn_qkv.weight"), nullptr);
}

TEST(HfModel, GgufAndHfAgreeOnExpertBytes) {
    ModelDesc hf = ModelDesc::open(test::fixture("models/qwen3moe-tiny"));
    ModelDesc gg = ModelDesc::open(test::fixture("gguf/qwen3moe-tiny-f32.gguf"));
    EXPECT_EQ(hf.config.n_experts, gg.config.n_experts);
    EXPECT_EQ(hf.config.vocab_size, gg.config.vocab_size);
    EXPECT_EQ(gg.experts[2].down.rows, 64);
    EXPECT_EQ(gg.experts[2].down.cols, 32);
    EXPECT_EQ(gg.experts[2].expert_bytes() / 2, hf.experts[2].expert_bytes());  // f32 vs bf16
}

}  // namespace
}  // namespace sluice
