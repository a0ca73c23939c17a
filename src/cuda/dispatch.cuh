// Turns a run-time GgmlType, KV cache type or small-batch size into a compile-time template
// argument for the launchers: f(TypeTag<T>{}) / f(integral_constant<KvCacheType, T>{}) /
// f(CountTag<N>{}).
#pragma once
#include <string>
#include <type_traits>

#include "cuda/check.h"
#include "model/kv_cache_type.h"
#include "quant/types.h"

namespace sluice::cuda {

template <GgmlType T>
struct TypeTag {
    static constexpr GgmlType value = T;
};
template <int N>
struct CountTag {
    static constexpr int value = N;
};

// Every type with a matrix kernel; throws naming `op` for any other.
template <class F>
void dispatch_type(GgmlType type, const char* op, F&& f) {
    switch (type) {
#define SLUICE_CASE(t) \
    case GgmlType::t: f(TypeTag<GgmlType::t>{}); return;
        SLUICE_CASE(F32) SLUICE_CASE(F16) SLUICE_CASE(BF16) SLUICE_CASE(Q4_0) SLUICE_CASE(Q4_1) SLUICE_CASE(Q5_0)
        SLUICE_CASE(Q5_1) SLUICE_CASE(Q8_0) SLUICE_CASE(Q2_K) SLUICE_CASE(Q3_K) SLUICE_CASE(Q4_K) SLUICE_CASE(Q5_K)
        SLUICE_CASE(Q6_K) SLUICE_CASE(IQ4_NL) SLUICE_CASE(IQ4_XS) SLUICE_CASE(IQ2_XXS) SLUICE_CASE(IQ2_XS)
        SLUICE_CASE(IQ2_S) SLUICE_CASE(IQ3_XXS) SLUICE_CASE(IQ3_S) SLUICE_CASE(IQ1_S) SLUICE_CASE(IQ1_M)
#undef SLUICE_CASE
        default: throw_no_kernel(op, type);
    }
}

// The types with 8-bit-activation decode kernels (q8_arith.h: q8::has_q8_unit); throws naming
// `op` for any other.
template <class F>
void dispatch_q8_type(GgmlType type, const char* op, F&& f) {
    switch (type) {
#define SLUICE_CASE(t) \
    case GgmlType::t: f(TypeTag<GgmlType::t>{}); return;
        SLUICE_CASE(Q4_K) SLUICE_CASE(Q5_K) SLUICE_CASE(Q6_K) SLUICE_CASE(Q8_0) SLUICE_CASE(IQ2_XXS) SLUICE_CASE(IQ2_XS)
        SLUICE_CASE(IQ2_S) SLUICE_CASE(IQ3_XXS) SLUICE_CASE(IQ3_S) SLUICE_CASE(IQ1_S) SLUICE_CASE(IQ1_M)
#undef SLUICE_CASE
        default: throw_no_kernel(op, type);
    }
}

// The types with int8 tensor-core prefill kernels (mmq.cu, has_mmq_kernel): the 8-bit decode
// types but IQ1_S and IQ1_M (mmq_tile.h). Any other calls `other`, which by default throws
// naming `op`.
template <class F, class Other>
void dispatch_mmq_type(GgmlType type, const char* op, F&& f, Other&& other) {
    switch (type) {
#define SLUICE_CASE(t) \
    case GgmlType::t: f(TypeTag<GgmlType::t>{}); return;
        SLUICE_CASE(Q4_K) SLUICE_CASE(Q5_K) SLUICE_CASE(Q6_K) SLUICE_CASE(Q8_0) SLUICE_CASE(IQ2_XXS) SLUICE_CASE(IQ2_XS)
        SLUICE_CASE(IQ2_S) SLUICE_CASE(IQ3_XXS) SLUICE_CASE(IQ3_S)
#undef SLUICE_CASE
        default: other();
    }
}
template <class F>
void dispatch_mmq_type(GgmlType type, const char* op, F&& f) {
    dispatch_mmq_type(type, op, f, [&] { throw_no_kernel(op, type); });
}

// n in 1..8.
template <class F>
void dispatch_count(int64_t n, F&& f) {
    switch (n) {
        case 1: f(CountTag<1>{}); return;
        case 2: f(CountTag<2>{}); return;
        case 3: f(CountTag<3>{}); return;
        case 4: f(CountTag<4>{}); return;
        case 5: f(CountTag<5>{}); return;
        case 6: f(CountTag<6>{}); return;
        case 7: f(CountTag<7>{}); return;
        case 8: f(CountTag<8>{}); return;
        default: throw_error("dispatch_count: " + std::to_string(n) + " is outside 1..8");
    }
}

// The weight checks every matrix launcher makes: a known type, positive sizes, whole blocks.
inline void check_matrix(const char* op, GgmlType type, int64_t rows, int64_t cols) {
    const TypeInfo& info = type_info(type);
    if (rows <= 0 || cols <= 0)
        throw_error(std::string(op) + ": weight of " + std::to_string(rows) + " x " + std::to_string(cols) +
                    " values (both must be positive)");
    if (cols % info.block_size != 0)
        throw_error(std::string(op) + ": " + std::to_string(cols) + " columns are not a whole number of " + info.name +
                    " blocks of " + std::to_string(info.block_size));
}

// The KV cache types the attention kernels read; throws naming `op` for any other.
template <class F>
void dispatch_cache_type(KvCacheType type, const char* op, F&& f) {
    switch (type) {
        case KvCacheType::F32: f(std::integral_constant<KvCacheType, KvCacheType::F32>{}); return;
        case KvCacheType::F16: f(std::integral_constant<KvCacheType, KvCacheType::F16>{}); return;
        case KvCacheType::Q8_0: f(std::integral_constant<KvCacheType, KvCacheType::Q8_0>{}); return;
    }
    throw_error(std::string(op) + ": unknown KV cache type " + std::to_string(int(type)));
}

}  // namespace sluice::cuda
