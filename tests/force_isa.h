// Runs the CPU kernels of one ISA until the scope ends, then restores the ones in use before
// (tests force each path; the GPU test measures how far the CPU's own kernel sets disagree).
#pragma once
#include "kernels/dot.h"

namespace sluice::test {

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
