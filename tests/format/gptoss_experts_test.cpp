// gpt-oss's experts in the Hugging Face layouts: the MXFP4 `_blocks` / `_scales` as transformers
// reads them (integrations/mxfp4.py: convert_moe_packed_tensors) and the transposed, interleaved
// bf16 `gate_up_proj` / `down_proj`, both rewritten to llama.cpp's per-expert matrices.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "format/model_desc.h"
#include "format/safetensors.h"
#include "quant/mxfp4_layout.h"
#include "quant/types.h"
#include "test_support.h"
#include "util/error.h"
#include "util/half.h"

namespace sluice {
namespace {

// transformers' FP4 values by code, and its decode of one HF block: value 2k from the low
// nibble of byte k, 2k+1 from the high one, times 2^(scale − 127).
const float kFp4[16] = {+0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

void decode_hf_block(const uint8_t* block, uint8_t scale, float* out) {
    for (int k = 0; k < 16; ++k) {
        out[2 * k] = std::ldexp(kFp4[block[k] & 0xF], int(scale) - 127);
        out[2 * k + 1] = std::ldexp(kFp4[block[k] >> 4], int(scale) - 127);
    }
}

TEST(GptOssExperts, HfMxfp4BlocksBecomeGgmlBlocksOfTheSameValues) {
    std::mt19937 rng(9);
    const int64_t nb = 24;
    std::vector<uint8_t> blocks(size_t(nb) * 16), scales(static_cast<size_t>(nb)), ggml(size_t(nb) * 17);
    for (auto& b : blocks) b = uint8_t(rng());
    for (auto& s : scales) s = uint8_t(100 + rng() % 50);
    quant::mxfp4_from_hf(blocks.data(), scales.data(), nb, ggml.data());
    std::vector<float> got(size_t(nb) * 32), want(got.size());
    dequantize_row_ref(GgmlType::MXFP4, ggml.data(), got.data(), nb * 32);
    for (int64_t b = 0; b < nb; ++b) decode_hf_block(blocks.data() + b * 16, scales[size_t(b)], want.data() + b * 32);
    // Equal as numbers: transformers' code 8 is −0.0, ggml's +0.
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "value " << i;
}

// One safetensors file of raw tensors (dtype, shape, bytes).
struct RawTensor {
    std::string dtype;
    std::vector<int64_t> shape;
    std::string bytes;
};
void write_raw_safetensors(const std::string& path, const std::map<std::string, RawTensor>& tensors) {
    nlohmann::json h;
    std::string data;
    for (const auto& [name, t] : tensors) {
        h[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
        data += t.bytes;
    }
    const std::string js = h.dump();
    const uint64_t n = js.size();
    test::write_file(path, std::string(reinterpret_cast<const char*>(&n), 8) + js + data);
}

// The fixture's experts quantised to MXFP4 and stored in the released layout, in one folder; in
// another the same values (exact in bf16) in the bf16 layout. Both must open to the same
// per-expert matrices, and to the values transformers decodes from the blocks.
TEST(GptOssExperts, ReleasedMxfp4LayoutOpensToTheSameExpertsAsBf16) {
    namespace fs = std::filesystem;
    const std::string src = test::fixture("models/gptoss-tiny");
    const ModelConfig c = parse_hf_config(src + "/config.json");
    const int64_t E = c.n_experts, I = c.expert_ffn, H = c.hidden;
    SafetensorsSet set(src + "/model.safetensors");
    std::map<std::string, RawTensor> mx, bf;
    for (const auto& [name, t] : set.tensors()) {
        const std::string bytes(reinterpret_cast<const char*>(set.data(t)), t.bytes);
        const bool gate_up = name.ends_with("mlp.experts.gate_up_proj"), down = name.ends_with("mlp.experts.down_proj");
        if (!gate_up && !down) {
            mx[name] = bf[name] = {t.dtype, t.shape, bytes};
            continue;
        }
        // Rows of the HF MXFP4 tensor: output features (gate_up: 2I interleaved; down: H), each
        // a column of the bf16 tensor [E, in, out].
        const int64_t in = gate_up ? H : I, out = gate_up ? 2 * I : H, nb = in / 32;
        const uint16_t* w = reinterpret_cast<const uint16_t*>(set.data(t));
        std::string blocks, scales, dequant(size_t(E * in * out) * 2, '\0');
        std::vector<float> row(static_cast<size_t>(in)), back(static_cast<size_t>(in));
        std::vector<uint8_t> q(size_t(nb) * 17);
        for (int64_t e = 0; e < E; ++e)
            for (int64_t r = 0; r < out; ++r) {
                for (int64_t i = 0; i < in; ++i) row[size_t(i)] = bf16_to_f32(w[(e * in + i) * out + r]);
                quantize_row_ref(GgmlType::MXFP4, row.data(), q.data(), in);
                dequantize_row_ref(GgmlType::MXFP4, q.data(), back.data(), in);
                for (int64_t b = 0; b < nb; ++b) {
                    const uint8_t* g = q.data() + b * 17;   // ggml: e, then value j low / j+16 high
                    scales += char(g[0]);
                    for (int k = 0; k < 16; ++k) {
                        auto code = [&](int j) { return j < 16 ? g[1 + j] & 0xF : g[1 + j - 16] >> 4; };
                        blocks += char(code(2 * k) | code(2 * k + 1) << 4);
                    }
                }
                for (int64_t i = 0; i < in; ++i) {
                    const uint16_t v = f32_to_bf16(back[size_t(i)]);
                    ASSERT_EQ(bf16_to_f32(v), back[size_t(i)]);   // MXFP4 values are exact in bf16
                    std::memcpy(dequant.data() + size_t((e * in + i) * out + r) * 2, &v, 2);
                }
            }
        mx[name + "_blocks"] = {"U8", {E, out, nb, 16}, blocks};
        mx[name + "_scales"] = {"U8", {E, out, nb}, scales};
        bf[name] = {t.dtype, t.shape, dequant};
    }
    test::TempDir tmp;
    for (const auto& [dir, tensors] : {std::pair{"mx", &mx}, std::pair{"bf", &bf}}) {
        fs::create_directory(tmp.path() / dir);
        fs::copy_file(src + "/config.json", tmp.path() / dir / "config.json");
        write_raw_safetensors((tmp.path() / dir / "model.safetensors").string(), *tensors);
    }
    const ModelDesc a = ModelDesc::open(tmp.file("mx")), b = ModelDesc::open(tmp.file("bf"));
    for (int64_t l = 0; l < c.n_layers; ++l) {
        const LayerExperts &la = a.experts[size_t(l)], &lb = b.experts[size_t(l)];
        EXPECT_EQ(la.gate.type, GgmlType::MXFP4);
        EXPECT_EQ(lb.gate.type, GgmlType::BF16);
        for (auto [pa, pb] : {std::pair{&la.gate, &lb.gate}, std::pair{&la.up, &lb.up}, std::pair{&la.down, &lb.down}})
            for (int64_t e = 0; e < E; ++e) {
                SCOPED_TRACE(pa->name + " expert " + std::to_string(e));
                const int64_t n = pa->rows * pa->cols;
                std::vector<float> fa(static_cast<size_t>(n)), fb(static_cast<size_t>(n));
                const auto& sa = pa->experts[size_t(e)];
                const auto& sb = pb->experts[size_t(e)];
                dequantize_row_ref(pa->type, a.files[size_t(sa.file)]->data() + sa.offset, fa.data(), n);
                dequantize_row_ref(pb->type, b.files[size_t(sb.file)]->data() + sb.offset, fb.data(), n);
                ASSERT_EQ(std::memcmp(fa.data(), fb.data(), fa.size() * 4), 0);
            }
    }
    // The bf16 layout is transposed and interleaved: row i of expert e's gate (up) is column 2i
    // (2i + 1) of gate_up_proj[e]; row h of its down is column h of down_proj[e].
    const int64_t e = 3;
    // 16-bit values read with memcpy: this writer does not pad the header, so data may be odd.
    auto u16 = [](const uint8_t* base, int64_t index) {
        uint16_t v;
        std::memcpy(&v, base + 2 * index, 2);
        return v;
    };
    auto at = [&](const ExpertProjection& p, int64_t r, int64_t col) {
        const auto& sl = p.experts[size_t(e)];
        return u16(b.files[size_t(sl.file)]->data() + sl.offset, r * p.cols + col);
    };
    const SafetensorsSet bf_set(tmp.file("bf") + "/model.safetensors");
    const uint8_t* gu_bf = bf_set.data(*bf_set.find("model.layers.1.mlp.experts.gate_up_proj"));
    const uint8_t* dn_bf = bf_set.data(*bf_set.find("model.layers.1.mlp.experts.down_proj"));
    for (int64_t i : {int64_t(0), int64_t(5), I - 1})
        for (int64_t h : {int64_t(0), int64_t(7), H - 1}) {
            EXPECT_EQ(at(b.experts[1].gate, i, h), u16(gu_bf, (e * H + h) * 2 * I + 2 * i));
            EXPECT_EQ(at(b.experts[1].up, i, h), u16(gu_bf, (e * H + h) * 2 * I + 2 * i + 1));
            EXPECT_EQ(at(b.experts[1].down, h, i), u16(dn_bf, (e * I + i) * H + h));
        }
}

TEST(GptOssExperts, WrongBlocksShapeIsOneLineError) {
    const std::string src = test::fixture("models/gptoss-tiny");
    SafetensorsSet set(src + "/model.safetensors");
    std::map<std::string, RawTensor> tensors;
    for (const auto& [name, t] : set.tensors())
        tensors[name] = {t.dtype, t.shape, std::string(reinterpret_cast<const char*>(set.data(t)), t.bytes)};
    const ModelConfig c = parse_hf_config(src + "/config.json");
    tensors.erase("model.layers.2.mlp.experts.gate_up_proj");
    tensors["model.layers.2.mlp.experts.gate_up_proj_blocks"] = {
        "U8", {c.n_experts, 2 * c.expert_ffn, 1, 16}, std::string(size_t(c.n_experts * 2 * c.expert_ffn * 16), '\0')};
    test::TempDir tmp;
    std::filesystem::copy_file(src + "/config.json", tmp.file("config.json"));
    write_raw_safetensors(tmp.file("model.safetensors"), tensors);
    try {
        ModelDesc::open(tmp.path().string());
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("gate_up_proj_blocks has shape [16, 128, 1, 16] but config.json implies [16, 128, 2, 16]"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace sluice
