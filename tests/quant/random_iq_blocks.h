// Blocks of the grid-indexed IQ types sluice reads but does not write (can_quantize is false):
// random bytes, every one a valid block, with the half-precision scale set to a finite value
// between 2^(top_exponent − 6) and 2^(top_exponent + 1).
#pragma once
#include <cmath>
#include <cstring>
#include <random>

#include "quant/types.h"
#include "util/half.h"

namespace sluice::test {

inline void random_iq_blocks(GgmlType t, uint8_t* dst, size_t bytes, std::mt19937_64& rng, int top_exponent = -4) {
    const size_t block = type_info(t).block_bytes;
    for (size_t i = 0; i < bytes; ++i) dst[i] = uint8_t(rng());
    for (size_t b = 0; b < bytes / block; ++b) {
        const uint16_t d = f32_to_f16(std::ldexp(1.0f + float(rng() % 1024) / 1024, top_exponent - int(rng() % 7)));
        uint8_t* p = dst + b * block;
        if (t == GgmlType::IQ1_M) {
            // The scale's four nibbles are the top nibbles of the four u16 of scales (offset 48).
            for (int k = 0; k < 4; ++k) p[48 + 2 * k + 1] = uint8_t((p[48 + 2 * k + 1] & 0x0F) | ((d >> (4 * k)) & 0xF) << 4);
        } else {
            std::memcpy(p, &d, 2);
        }
    }
}

}  // namespace sluice::test
