#include "format/gptoss_experts.h"

#include <cstring>

#include "quant/mxfp4_layout.h"
#include "util/error.h"

namespace sluice {

namespace {

const char* const kNames[] = {"mlp.experts.gate_up_proj", "mlp.experts.down_proj",
                              "mlp.experts.gate_up_proj_blocks", "mlp.experts.gate_up_proj_scales",
                              "mlp.experts.down_proj_blocks", "mlp.experts.down_proj_scales"};

std::string shape_text(const std::vector<int64_t>& s) {
    std::string out;
    for (int64_t d : s) out += (out.empty() ? "" : ", ") + std::to_string(d);
    return "[" + out + "]";
}

const SafetensorsTensor& expect(const SafetensorsSet& set, const std::map<std::string, const SafetensorsTensor*>& tensors,
                                const std::string& rest, const std::string& dtype, const std::vector<int64_t>& shape,
                                int64_t layer, const std::string& dir) {
    auto it = tensors.find(rest);
    if (it == tensors.end()) fail("{}: missing tensor model.layers.{}.{}", dir, layer, rest);
    const SafetensorsTensor& t = *it->second;
    const std::string& file = set.files()[size_t(t.file)]->path();
    if (t.dtype != dtype) fail("{}: tensor {} has dtype {} (expected {})", file, t.name, t.dtype, dtype);
    if (t.shape != shape)
        fail("{}: tensor {} has shape {} but config.json implies {}", file, t.name, shape_text(t.shape), shape_text(shape));
    return t;
}

// Appends the rows of `rows` [rows_out, cols] of 16-bit values taken transposed from src
// [cols, stride] at column col0 + k·step (k = 0..rows_out−1).
void append_transposed16(const uint8_t* src, int64_t cols, int64_t stride, int64_t col0, int64_t step, int64_t rows_out,
                         std::vector<uint8_t>& out) {
    const size_t at = out.size();
    out.resize(at + size_t(rows_out * cols) * 2);
    uint16_t* dst = reinterpret_cast<uint16_t*>(out.data() + at);
    for (int64_t r = 0; r < rows_out; ++r)
        for (int64_t c = 0; c < cols; ++c) std::memcpy(dst + r * cols + c, src + size_t(c * stride + col0 + r * step) * 2, 2);
}

// Appends rows row0, row0 + step, … (rows_out of them) of an MXFP4 matrix in the HF layout,
// each of nb blocks, as ggml blocks.
void append_mxfp4_rows(const uint8_t* blocks, const uint8_t* scales, int64_t nb, int64_t row0, int64_t step,
                       int64_t rows_out, std::vector<uint8_t>& out) {
    const size_t row_bytes = size_t(nb) * 17, at = out.size();
    out.resize(at + size_t(rows_out) * row_bytes);
    for (int64_t r = 0; r < rows_out; ++r) {
        const int64_t src = row0 + r * step;
        quant::mxfp4_from_hf(blocks + size_t(src * nb) * 16, scales + size_t(src * nb), nb, out.data() + at + size_t(r) * row_bytes);
    }
}

}  // namespace

bool is_gptoss_expert_tensor(const std::string& rest) {
    for (const char* n : kNames)
        if (rest == n) return true;
    return false;
}

void load_gptoss_experts(const SafetensorsSet& set,
                         const std::vector<std::map<std::string, const SafetensorsTensor*>>& layer_tensors,
                         ModelDesc& desc) {
    const ModelConfig& c = desc.config;
    const int64_t E = c.n_experts, I = c.expert_ffn, H = c.hidden;
    const int file = int(desc.files.size());
    std::vector<uint8_t> bytes;
    for (int64_t l = 0; l < c.n_layers; ++l) {
        const auto& tensors = layer_tensors[size_t(l)];
        LayerExperts& le = desc.experts[size_t(l)];
        const std::string blk = "blk." + std::to_string(l) + ".";
        const bool mxfp4 = tensors.count("mlp.experts.gate_up_proj_blocks") > 0;
        if (mxfp4 && (H % 32 != 0 || I % 32 != 0))
            fail("{}: MXFP4 experts need hidden_size and intermediate_size divisible by 32 ({}, {})", desc.path, H, I);
        const GgmlType type = mxfp4 ? GgmlType::MXFP4 : GgmlType::BF16;
        const SafetensorsTensor *gu = nullptr, *gu_s = nullptr, *dn = nullptr, *dn_s = nullptr;
        if (mxfp4) {
            gu = &expect(set, tensors, "mlp.experts.gate_up_proj_blocks", "U8", {E, 2 * I, H / 32, 16}, l, desc.path);
            gu_s = &expect(set, tensors, "mlp.experts.gate_up_proj_scales", "U8", {E, 2 * I, H / 32}, l, desc.path);
            dn = &expect(set, tensors, "mlp.experts.down_proj_blocks", "U8", {E, H, I / 32, 16}, l, desc.path);
            dn_s = &expect(set, tensors, "mlp.experts.down_proj_scales", "U8", {E, H, I / 32}, l, desc.path);
        } else {
            gu = &expect(set, tensors, "mlp.experts.gate_up_proj", "BF16", {E, H, 2 * I}, l, desc.path);
            dn = &expect(set, tensors, "mlp.experts.down_proj", "BF16", {E, I, H}, l, desc.path);
        }
        for (auto [p, kind, rows, cols] : {std::tuple{&le.gate, "gate", I, H}, std::tuple{&le.up, "up", I, H},
                                           std::tuple{&le.down, "down", H, I}}) {
            p->name = blk + "ffn_" + kind + "_exps.weight";
            p->type = type;
            p->rows = rows;
            p->cols = cols;
            p->experts.assign(size_t(E), {});
        }
        for (int64_t e = 0; e < E; ++e) {
            auto record = [&](ExpertProjection& p, size_t from) {
                p.experts[size_t(e)] = {file, uint64_t(from), uint64_t(bytes.size() - from)};
            };
            size_t from = bytes.size();
            if (mxfp4) {
                const uint8_t* b = set.data(*gu) + size_t(e * 2 * I * (H / 32)) * 16;
                const uint8_t* s = set.data(*gu_s) + size_t(e * 2 * I * (H / 32));
                append_mxfp4_rows(b, s, H / 32, 0, 2, I, bytes);
                record(le.gate, from);
                from = bytes.size();
                append_mxfp4_rows(b, s, H / 32, 1, 2, I, bytes);
                record(le.up, from);
                from = bytes.size();
                append_mxfp4_rows(set.data(*dn) + size_t(e * H * (I / 32)) * 16, set.data(*dn_s) + size_t(e * H * (I / 32)),
                                  I / 32, 0, 1, H, bytes);
                record(le.down, from);
            } else {
                const uint8_t* w = set.data(*gu) + size_t(e * H * 2 * I) * 2;
                append_transposed16(w, H, 2 * I, 0, 2, I, bytes);
                record(le.gate, from);
                from = bytes.size();
                append_transposed16(w, H, 2 * I, 1, 2, I, bytes);
                record(le.up, from);
                from = bytes.size();
                append_transposed16(set.data(*dn) + size_t(e * I * H) * 2, I, H, 0, 1, H, bytes);
                record(le.down, from);
            }
        }
    }
    desc.files.push_back(MappedFile::in_memory(desc.path + " (gpt-oss experts in llama.cpp's layout)", std::move(bytes)));
}

}  // namespace sluice
