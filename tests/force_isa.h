// The CPU's kernel sets in tests: which this CPU runs, and forcing one of them for a scope (tests
// force each path; the GPU test measures how far the CPU's own kernel sets disagree).
#pragma once
#include <vector>

#include "kernels/dot.h"

namespace sluice::test {

// Portable, then AVX2 and AVX-512 where this CPU has them.
inline std::vector<kernels::Isa> supported_isas() {
    std::vector<kernels::Isa> out;
    for (kernels::Isa isa : {kernels::Isa::Portable, kernels::Isa::Avx2, kernels::Isa::Avx512})
        if (kernels::isa_supported(isa)) out.push_back(isa);
    return out;
}

// Runs the CPU kernels of one ISA until the scope ends, then restores the ones in use before.

class ForceIsa {
public:
    explicit ForceIsa(kernels::Isa isa) : saved_(kernels::active_kernels().isa) { kernels::set_active_isa(isa); }
    ~ForceIsa() { kernels::set_active_isa(saved_); }
    ForceIsa(const ForceIsa&) = delete;
    ForceIsa& operator=(const ForceIsa&) = delete;

private:
    kernels::Isa saved_;
};

}  // namespace sluice::test
