// GGML tensor element types: ids as stored in GGUF, block geometry, and the scalar reference
// conversions every fast kernel is tested against (model-spec §C.4–C.6).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace sluice {

enum class GgmlType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
    IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct TypeInfo {
    const char* name;      // "q4_k", as in `sluice convert --type`
    int64_t block_size;    // values per block
    size_t block_bytes;    // bytes per block
    bool supported;        // sluice can dequantise and compute with it
};

// Info for a known id; nullopt for an id GGUF does not define.
std::optional<TypeInfo> type_info(uint32_t id);
const TypeInfo& type_info(GgmlType t);
const char* type_name(GgmlType t);
// Parses "q4_k", "Q4_K", "bf16" …; nullopt when unknown.
std::optional<GgmlType> type_from_name(const std::string& name);

// Bytes of `n` values of type t (n must be a multiple of the block size).
size_t row_bytes(GgmlType t, int64_t n);

// Scalar references. n is a multiple of the type's block size.
void dequantize_row_ref(GgmlType t, const void* src, float* dst, int64_t n);
void quantize_row_ref(GgmlType t, const float* src, void* dst, int64_t n);
// Whether quantize_row_ref can write type t: of the grid-indexed IQ types (IQ1_*, IQ2_*,
// IQ3_*) only IQ2_XXS (with a uniform importance matrix); sluice reads the others but does not
// write them.
bool can_quantize(GgmlType t);

}  // namespace sluice
