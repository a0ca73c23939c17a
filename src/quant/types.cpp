#include "quant/types.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "util/error.h"

namespace sluice {

namespace {

struct Entry {
    GgmlType type;
    TypeInfo info;
};

// Block geometry from ggml-common.h; `supported` marks the weight types our kernels compute
// with (Q8_1 and Q8_K exist only as the kernels' activation formats).
constexpr std::array kTypes = {
    Entry{GgmlType::F32, {"f32", 1, 4, true}},
    Entry{GgmlType::F16, {"f16", 1, 2, true}},
    Entry{GgmlType::BF16, {"bf16", 1, 2, true}},
    Entry{GgmlType::Q4_0, {"q4_0", 32, 18, true}},
    Entry{GgmlType::Q4_1, {"q4_1", 32, 20, true}},
    Entry{GgmlType::Q5_0, {"q5_0", 32, 22, true}},
    Entry{GgmlType::Q5_1, {"q5_1", 32, 24, true}},
    Entry{GgmlType::Q8_0, {"q8_0", 32, 34, true}},
    Entry{GgmlType::Q8_1, {"q8_1", 32, 36, false}},
    Entry{GgmlType::Q2_K, {"q2_k", 256, 84, true}},
    Entry{GgmlType::Q3_K, {"q3_k", 256, 110, true}},
    Entry{GgmlType::Q4_K, {"q4_k", 256, 144, true}},
    Entry{GgmlType::Q5_K, {"q5_k", 256, 176, true}},
    Entry{GgmlType::Q6_K, {"q6_k", 256, 210, true}},
    Entry{GgmlType::Q8_K, {"q8_k", 256, 292, false}},
    Entry{GgmlType::IQ2_XXS, {"iq2_xxs", 256, 66, true}},
    Entry{GgmlType::IQ2_XS, {"iq2_xs", 256, 74, true}},
    Entry{GgmlType::IQ3_XXS, {"iq3_xxs", 256, 98, true}},
    Entry{GgmlType::IQ1_S, {"iq1_s", 256, 50, true}},
    Entry{GgmlType::IQ4_NL, {"iq4_nl", 32, 18, true}},
    Entry{GgmlType::IQ3_S, {"iq3_s", 256, 110, true}},
    Entry{GgmlType::IQ2_S, {"iq2_s", 256, 82, true}},
    Entry{GgmlType::IQ4_XS, {"iq4_xs", 256, 136, true}},
    Entry{GgmlType::I8, {"i8", 1, 1, false}},
    Entry{GgmlType::I16, {"i16", 1, 2, false}},
    Entry{GgmlType::I32, {"i32", 1, 4, false}},
    Entry{GgmlType::I64, {"i64", 1, 8, false}},
    Entry{GgmlType::F64, {"f64", 1, 8, false}},
    Entry{GgmlType::IQ1_M, {"iq1_m", 256, 56, true}},
    Entry{GgmlType::TQ1_0, {"tq1_0", 256, 54, false}},
    Entry{GgmlType::TQ2_0, {"tq2_0", 256, 66, false}},
    Entry{GgmlType::MXFP4, {"mxfp4", 32, 17, true}},
};

}  // namespace

std::optional<TypeInfo> type_info(uint32_t id) {
    for (const auto& e : kTypes)
        if (uint32_t(e.type) == id) return e.info;
    return std::nullopt;
}

const TypeInfo& type_info(GgmlType t) {
    for (const auto& e : kTypes)
        if (e.type == t) return e.info;
    fail("unknown ggml type id {}", uint32_t(t));
}

const char* type_name(GgmlType t) { return type_info(t).name; }

std::optional<GgmlType> type_from_name(const std::string& name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const auto& e : kTypes)
        if (lower == e.info.name) return e.type;
    return std::nullopt;
}

size_t row_bytes(GgmlType t, int64_t n) {
    const TypeInfo& info = type_info(t);
    if (n % info.block_size != 0)
        fail("a row of {} values is not a whole number of {} blocks ({} values each)", n, info.name, info.block_size);
    return size_t(n / info.block_size) * info.block_bytes;
}

}  // namespace sluice
