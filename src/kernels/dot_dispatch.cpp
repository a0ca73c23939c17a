// Which kernel table runs: chosen once from the CPU's features, overridable for tests.
#include <atomic>
#include <cstdlib>
#include <string>

#include "kernels/dot.h"
#include "quant/cpu_features.h"
#include "util/error.h"

namespace sluice::kernels {

namespace {

Isa best_isa() {
    for (Isa isa : {Isa::Avx512, Isa::Avx2})
        if (isa_supported(isa)) return isa;
    return Isa::Portable;
}

Isa initial_isa() {
    const char* env = std::getenv("SLUICE_ISA");
    if (!env || !*env) return best_isa();
    for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) {
        if (std::string(env) != isa_name(isa)) continue;
        if (!isa_supported(isa)) fail("SLUICE_ISA={}: this CPU does not support it", env);
        return isa;
    }
    fail("SLUICE_ISA={}: expected portable, avx2 or avx512", env);
}

std::atomic<const KernelSet*>& active() {
    static std::atomic<const KernelSet*> set{&kernel_set(initial_isa())};
    return set;
}

}  // namespace

const TypeKernels& KernelSet::operator[](GgmlType t) const {
    const uint32_t id = uint32_t(t);
    if (id >= std::size(types) || !types[id].dot) fail("no {} kernels for type {}", isa_name(isa), type_name(t));
    return types[id];
}

QuantizeFn KernelSet::quantizer(GgmlType activation) const {
    switch (activation) {
        case GgmlType::Q8_0: return quantize_q8_0;
        case GgmlType::Q8_1: return quantize_q8_1;
        case GgmlType::Q8_K: return quantize_q8_k;
        default: return nullptr;
    }
}

GgmlType activation_type(GgmlType weight) {
    switch (weight) {
        case GgmlType::Q4_0:
        case GgmlType::Q5_0:
        case GgmlType::Q8_0:
        case GgmlType::IQ4_NL:
        case GgmlType::MXFP4: return GgmlType::Q8_0;
        case GgmlType::Q4_1:
        case GgmlType::Q5_1: return GgmlType::Q8_1;
        case GgmlType::Q2_K:
        case GgmlType::Q3_K:
        case GgmlType::Q4_K:
        case GgmlType::Q5_K:
        case GgmlType::Q6_K:
        case GgmlType::IQ4_XS:
        case GgmlType::IQ2_XXS:
        case GgmlType::IQ2_XS:
        case GgmlType::IQ2_S:
        case GgmlType::IQ3_XXS:
        case GgmlType::IQ3_S:
        case GgmlType::IQ1_S:
        case GgmlType::IQ1_M: return GgmlType::Q8_K;
        default: return GgmlType::F32;
    }
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::Avx2: return "avx2";
        case Isa::Avx512: return "avx512";
        default: return "portable";
    }
}

bool isa_supported(Isa isa) {
    const CpuFeatures& f = cpu_features();
    switch (isa) {
        case Isa::Avx2: return f.avx2 && f.fma && f.f16c;
        case Isa::Avx512:
            return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.avx512vnni;
        default: return true;
    }
}

const KernelSet& kernel_set(Isa isa) {
    if (!isa_supported(isa)) fail("this CPU does not support the {} kernels", isa_name(isa));
    switch (isa) {
        case Isa::Avx2: return avx2_kernels();
        case Isa::Avx512: return avx512_kernels();
        default: return portable_kernels();
    }
}

const KernelSet& active_kernels() { return *active().load(std::memory_order_acquire); }

void set_active_isa(Isa isa) { active().store(&kernel_set(isa), std::memory_order_release); }

}  // namespace sluice::kernels
