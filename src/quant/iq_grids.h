// The lattices of the grid-indexed IQ types (iq_grids.cpp) and their 7-bit sign code. C++17, as
// the CUDA sources include it (cuda/q8_iq_units.h).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace sluice {

extern const uint64_t kIq2xxsGrid[256];   // IQ2_XXS: 8 levels of {8, 25, 43}
extern const uint64_t kIq2xsGrid[512];    // IQ2_XS
extern const uint64_t kIq2sGrid[1024];    // IQ2_S
extern const uint32_t kIq3xxsGrid[256];   // IQ3_XXS: 4 levels of {4, 12, …, 62}
extern const uint32_t kIq3sGrid[512];     // IQ3_S: 4 levels of {1, 3, …, 15}
extern const uint64_t kIq1sGrid[2048];    // IQ1_S, IQ1_M: 8 int8 levels of {−1, 0, 1}

// Signs of 8 values from 7 stored bits: the eighth makes the count of negatives even
// (llama.cpp's ksigns_iq2xs table). Bit j set = value j negative.
inline constexpr std::array<uint8_t, 128> kIq2Signs = [] {
    std::array<uint8_t, 128> t{};
    for (int i = 0; i < 128; ++i) {
        int odd = 0;
        for (int b = 0; b < 7; ++b) odd ^= (i >> b) & 1;
        t[std::size_t(i)] = uint8_t(i | odd << 7);
    }
    return t;
}();

// Level j (0..7) of a u64 grid entry, or 0..3 of a u32 one.
inline uint8_t grid_level(uint64_t entry, int j) { return uint8_t(entry >> (8 * j)); }

}  // namespace sluice
