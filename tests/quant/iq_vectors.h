// tests/data/iq/<name>.bin (tools/iq_vectors/make.sh): rows of grid-indexed IQ blocks llama.cpp
// wrote (the first `quantised_rows` quantised from `source`, the rest random bytes) and the
// floats its own dequantisers made of them.
#pragma once
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/types.h"
#include "test_support.h"

namespace sluice::test {

struct IqVectors {
    GgmlType type;
    int64_t values = 0;
    int quantised_rows = 0;                  // the first rows: ggml_quantize_chunk of `source`
    std::vector<std::vector<float>> source;
    std::vector<std::vector<uint8_t>> blocks;
    std::vector<std::vector<float>> floats;  // ggml's dequantisation of each row
};

inline IqVectors read_iq_vectors(const std::string& name) {
    const std::string bytes = read_file(source_dir() + "/tests/data/iq/" + name + ".bin");
    size_t at = 0;
    auto take = [&](void* dst, size_t n) {
        if (at + n > bytes.size()) throw std::runtime_error(name + ".bin: truncated");
        std::memcpy(dst, bytes.data() + at, n);
        at += n;
    };
    char magic[4];
    uint32_t header[4];
    take(magic, 4);
    take(header, sizeof header);
    if (std::memcmp(magic, "SLIQ", 4) != 0) throw std::runtime_error(name + ".bin: not a SLIQ file");
    IqVectors v{GgmlType(header[0]), header[1], int(header[2]), {}, {}, {}};
    const size_t rb = row_bytes(v.type, v.values);
    for (uint32_t r = 0; r < header[2] + header[3]; ++r) {
        if (r < header[2]) {
            v.source.emplace_back(size_t(v.values));
            take(v.source.back().data(), size_t(v.values) * 4);
        }
        v.blocks.emplace_back(rb);
        take(v.blocks.back().data(), rb);
        v.floats.emplace_back(size_t(v.values));
        take(v.floats.back().data(), size_t(v.values) * 4);
    }
    if (at != bytes.size()) throw std::runtime_error(name + ".bin: trailing bytes");
    return v;
}

// The seven files and their types.
struct IqVectorFile {
    const char* name;
    GgmlType type;
};
inline constexpr IqVectorFile kIqVectorFiles[] = {
    {"iq2_xxs", GgmlType::IQ2_XXS}, {"iq2_xs", GgmlType::IQ2_XS}, {"iq2_s", GgmlType::IQ2_S}, {"iq3_xxs", GgmlType::IQ3_XXS},
    {"iq3_s", GgmlType::IQ3_S},     {"iq1_s", GgmlType::IQ1_S},   {"iq1_m", GgmlType::IQ1_M}};

}  // namespace sluice::test
