// The IQ grids, as data: the lattice points that IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S
// and IQ1_M index, copied from llama.cpp's ggml-common.h (MIT licence), where they were found by
// k-means over model weights and have no closed form. Each entry packs 8 (u64: IQ2, IQ1) or 4
// (u32: IQ3) byte levels, first value in the lowest byte; the IQ1 levels are int8 −1, 0, +1. The numbers live in
// iq_grids/*.inc, which the CUDA decoders' device copies (cuda/iq_grids.cuh) include too.
#include "quant/iq_grids.h"

namespace sluice {

alignas(64) const uint64_t kIq2xxsGrid[256] = {
#include "quant/iq_grids/iq2xxs.inc"
};

alignas(64) const uint64_t kIq2xsGrid[512] = {
#include "quant/iq_grids/iq2xs.inc"
};

alignas(64) const uint64_t kIq2sGrid[1024] = {
#include "quant/iq_grids/iq2s.inc"
};

alignas(64) const uint32_t kIq3xxsGrid[256] = {
#include "quant/iq_grids/iq3xxs.inc"
};

alignas(64) const uint32_t kIq3sGrid[512] = {
#include "quant/iq_grids/iq3s.inc"
};

alignas(64) const uint64_t kIq1sGrid[2048] = {
#include "quant/iq_grids/iq1s.inc"
};

}  // namespace sluice
