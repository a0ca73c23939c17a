// Dot-product kernels of every weight type, one table per instruction set, and the choice of
// table at run time.
//
// Like llama.cpp's CPU backend (model-spec §C.7), quantised weights are multiplied by
// activations quantised to 8 bits: Q8_0 blocks for Q4_0/Q5_0/Q8_0/IQ4_NL/MXFP4, Q8_1 for Q4_1/Q5_1,
// Q8_K for the K-quants and the IQ types of 256 values. The dot products are then integer sums per block, scaled
// once per block: 1.7–3.7× faster than unpacking the weights to float for FMA, in decode and in
// prefill (bench/RESULTS.md, "8-bit activations or float FMA"). F32, F16 and BF16 weights take
// float32 activations: exact (bf16 activations for vdpbf16ps would move logits past the float
// references' 1e-3), and their decode is bound by memory, not by these multiplies.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/types.h"

namespace sluice::kernels {

enum class Isa { Portable, Avx2, Avx512 };

// Activation rows one dot call takes at most: each weight block is unpacked once for all.
inline constexpr int kMaxCols = 4;
// Weight rows one dot_rows call takes at most.
inline constexpr int kMaxRows = 4;

// out[c] = Σ_i w[i]·x_c[i] over n values (whole blocks), c < nc ≤ kMaxCols; x_c starts
// x_stride bytes after x_{c-1} and is in activation_type(weight type).
using DotFn = void (*)(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out);
// out[r] = Σ_i w_r[i]·x[i] for nr ≤ kMaxRows weight rows, w_r starting w_stride bytes after
// w_{r-1}, and one activation row x: decode's matrix × vector, several rows per call.
using DotRowsFn = void (*)(int64_t n, const void* w, size_t w_stride, int nr, const void* x, float* out);
// The eight rows of one interleaved group (Layout::Interleaved8, kernels/repack.h) against nc ≤
// kMaxCols activation rows: out[8c + r] = Σ_i w_r[i]·x_c[i].
using DotX8Fn = void (*)(int64_t n, const void* w, const void* x, size_t x_stride, int nc, float* out);
using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
// out_c[i] += Σ_{p<len} w_c[p]·v_p[i] over len Q8_0 rows v_p of n values (whole blocks), v_p
// starting v_stride bytes after v_{p-1}, for nc weight rows w_c (any number; w_c starting w_step
// floats after w_{c-1}) and output rows out_c (out_step floats apart, n values each), summed in
// order of p: attention's weighted sum of V over a q8_0 KV cache (model/attention.cpp).
using WeightedRowsFn = void (*)(int64_t n, int64_t len, const void* v, size_t v_stride, const float* w, size_t w_step,
                                int nc, float* out, size_t out_step);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);

struct TypeKernels {
    DotFn dot = nullptr;
    DequantizeFn dequantize = nullptr;  // bit for bit dequantize_row_ref
    DotRowsFn dot_rows = nullptr;        // where a type has one; else matvec calls dot per row
    DotX8Fn dot_x8 = nullptr;            // types that can be interleaved (kernels/repack.h)
};

struct KernelSet {
    Isa isa = Isa::Portable;
    TypeKernels types[40];  // by GgmlType id
    // Activation quantisers (round to nearest even). Q8_0 / Q8_1: d = amax/127 stored as half,
    // q = round(x·127/amax) (llama.cpp's x86 path). Q8_K: quantize_row_ref(Q8_K).
    QuantizeFn quantize_q8_0 = nullptr, quantize_q8_1 = nullptr, quantize_q8_k = nullptr;
    WeightedRowsFn weighted_rows_q8_0 = nullptr;

    const TypeKernels& operator[](GgmlType t) const;  // fails for a type without kernels
    QuantizeFn quantizer(GgmlType activation) const;  // nullptr for F32
};

// F32, Q8_0, Q8_1 or Q8_K.
GgmlType activation_type(GgmlType weight);

const char* isa_name(Isa isa);
bool isa_supported(Isa isa);  // by this CPU
const KernelSet& kernel_set(Isa isa);  // fails when not supported

// The table matmul uses: the best supported, or SLUICE_ISA=portable|avx2|avx512 from the
// environment; set_active_isa overrides both (tests force each path, benchmarks compare them).
const KernelSet& active_kernels();
void set_active_isa(Isa isa);

// The tables, one per file (dot_portable.cpp, dot_avx2.cpp, dot_avx512.cpp).
const KernelSet& portable_kernels();
const KernelSet& avx2_kernels();
const KernelSet& avx512_kernels();

}  // namespace sluice::kernels
