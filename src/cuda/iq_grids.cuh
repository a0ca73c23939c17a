// The IQ grids in device memory: the host tables' own numbers (quant/iq_grids/*.inc, the one
// copy), so each CUDA translation unit that decodes IQ blocks holds them as initialised global
// data. Global rather than constant memory: the 32 lanes of a warp look up 32 different entries,
// which constant memory would serialise.
#pragma once
#include <cstdint>

namespace sluice::cuda {

__device__ const uint64_t kIq2xxsGridDevice[256] = {
#include "quant/iq_grids/iq2xxs.inc"
};
__device__ const uint64_t kIq2xsGridDevice[512] = {
#include "quant/iq_grids/iq2xs.inc"
};
__device__ const uint64_t kIq2sGridDevice[1024] = {
#include "quant/iq_grids/iq2s.inc"
};
__device__ const uint32_t kIq3xxsGridDevice[256] = {
#include "quant/iq_grids/iq3xxs.inc"
};
__device__ const uint32_t kIq3sGridDevice[512] = {
#include "quant/iq_grids/iq3s.inc"
};
__device__ const uint64_t kIq1sGridDevice[2048] = {
#include "quant/iq_grids/iq1s.inc"
};

// quant/iq_grids.h kIq2Signs, by its definition: seven stored sign bits, the eighth making the
// count of negatives even. Bit j set = value j negative.
__device__ inline int iq2_signs(int seven_bits) { return seven_bits | (__popc(seven_bits) & 1) << 7; }

}  // namespace sluice::cuda
