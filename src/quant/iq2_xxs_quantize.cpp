// IQ2_XXS quantisation: llama.cpp's quantize_row_iq2_xxs_impl, operation for operation, with a
// uniform importance matrix (llama.cpp requires a matrix for IQ2_XXS; with one of all ones,
// llama-quantize writes the bytes this writes). Each 8 values, sign-folded to |x| with an even
// number of flips, are fitted to a point of the 256-point grid: codes 0..2 per value (levels
// 1, 3, 5 in steps of the scale); a code vector off the grid takes the nearest grid point among
// its precomputed neighbours.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "quant/blocks.h"
#include "quant/iq_grids.h"
#include "quant/row_conversions.h"
#include "quant/scale_search.h"
#include "util/error.h"
#include "util/half.h"

namespace sluice::quant {

namespace {

// Code vectors: 2 bits per value, values 0..2, so indices below 0b10…10 + 2.
constexpr int kMapSize = 43692;

// The grid as levels 2·code + 1, the map from a code vector to its grid index (or, negated
// minus one, to the offset of its neighbour list), and the neighbour lists: a count, then the
// grid indices at the two smallest squared distances (ties ordered by index, as ggml's qsort).
struct Iq2xxsSearch {
    uint64_t grid[256];
    std::vector<int> map;
    std::vector<uint16_t> neighbours;

    Iq2xxsSearch() : map(kMapSize, -1) {
        for (int k = 0; k < 256; ++k) {
            grid[k] = 0;
            uint16_t code = 0;
            for (int i = 0; i < 8; ++i) {
                const int level = grid_level(kIq2xxsGrid[k], i);  // 8, 25 or 43
                const int l = level == 8 ? 0 : level == 25 ? 1 : 2;
                grid[k] |= uint64_t(2 * l + 1) << (8 * i);
                code = uint16_t(code | l << (2 * i));
            }
            map[code] = k;
        }
        std::vector<std::pair<int, int>> dist(256);
        for (int i = 0; i < kMapSize; ++i) {
            if (map[size_t(i)] >= 0) continue;
            for (int j = 0; j < 256; ++j) {
                int d2 = 0;
                for (int k = 0; k < 8; ++k) {
                    const int diff = int(grid_level(grid[j], k)) - (2 * ((i >> (2 * k)) & 3) + 1);
                    d2 += diff * diff;
                }
                dist[size_t(j)] = {d2, j};
            }
            std::sort(dist.begin(), dist.end());
            map[size_t(i)] = -int(neighbours.size()) - 1;
            const size_t count_at = neighbours.size();
            neighbours.push_back(0);
            int d2 = dist[0].first, distinct = 1;
            for (const auto& [d, j] : dist) {
                if (d > d2) {
                    if (distinct == 2) break;
                    d2 = d;
                    ++distinct;
                }
                neighbours.push_back(uint16_t(j));
            }
            neighbours[count_at] = uint16_t(neighbours.size() - count_at - 1);
        }
    }
};

const Iq2xxsSearch& search() {
    static const Iq2xxsSearch s;
    return s;
}

// The neighbour of an off-grid code vector nearest to xval/scale (weighted); writes its codes.
int best_neighbour(const Iq2xxsSearch& s, int map_entry, const float* xval, const float* weight, float scale,
                   int8_t* L) {
    const uint16_t* list = s.neighbours.data() - map_entry - 1;
    float best_d2 = 3.4028235e38f;
    int best = -1;
    for (int j = 1; j <= list[0]; ++j) {
        float d2 = 0;
        for (int i = 0; i < 8; ++i) {
            const float diff = scale * float(grid_level(s.grid[list[j]], i)) - xval[i];
            d2 += weight[i] * diff * diff;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best = list[j];
        }
    }
    for (int i = 0; i < 8; ++i) L[i] = int8_t((grid_level(s.grid[best], i) - 1) / 2);
    return best;
}

// Grid index of 8 codes, through the neighbour lists when off the grid (codes rewritten).
int grid_index(const Iq2xxsSearch& s, int8_t* L, const float* xval, const float* waux, float scale) {
    uint16_t u = 0;
    for (int i = 0; i < 8; ++i) u = uint16_t(u | L[i] << (2 * i));
    const int m = s.map[u];
    return m >= 0 ? m : best_neighbour(s, m, xval, waux, scale, L);
}

}  // namespace

void quantize_iq2_xxs(const float* src, void* dst, int64_t n) {
    const Iq2xxsSearch& s = search();
    constexpr int kMaxQ = 3;
    BlockIQ2_XXS* y = static_cast<BlockIQ2_XXS*>(dst);
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        const float* xbl = src + kQK_K * ibl;
        uint32_t q2[16] = {};
        float scales[8];
        float max_scale = 0;
        float sumx2 = 0;
        for (int i = 0; i < kQK_K; ++i) sumx2 += xbl[i] * xbl[i];
        const float sigma2 = sumx2 / kQK_K;
        for (int ib = 0; ib < 8; ++ib) {
            const float* xb = xbl + 32 * ib;
            float weight[32], waux[32], xval[32];
            int8_t L[32], Laux[32];
            uint8_t block_signs[4];
            for (int i = 0; i < 32; ++i) weight[i] = std::sqrt(sigma2 + xb[i] * xb[i]);  // uniform importance 1
            for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
            // Fold signs; an odd count of negatives flips back the value that costs least.
            for (int k = 0; k < 4; ++k) {
                int nflip = 0;
                uint8_t sign = 0;
                for (int i = 0; i < 8; ++i) {
                    const float v = xb[8 * k + i];
                    xval[8 * k + i] = v >= 0 ? v : -v;
                    if (v < 0) {
                        ++nflip;
                        sign = uint8_t(sign | 1 << i);
                    }
                }
                if (nflip % 2) {
                    int imin = 0;
                    float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
                    for (int i = 1; i < 8; ++i) {
                        const float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                        if (ax < min) {
                            min = ax;
                            imin = i;
                        }
                    }
                    xval[8 * k + imin] = -xval[8 * k + imin];
                    sign = uint8_t(sign ^ 1 << imin);
                }
                block_signs[k] = sign & 127;
            }
            float max = xval[0];
            for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
            if (max < kGroupMaxEps) {
                scales[ib] = 0;
                continue;
            }
            float scale = fit_positive_weighted(32, kMaxQ + 1, xval, reinterpret_cast<uint8_t*>(L), weight);
            const float eff_max = scale * kMaxQ;
            if (eff_max <= 0) {
                scales[ib] = 0;
                continue;
            }
            // Thirteen trial scales; each value's code rounds (x/scale − 1)/2 into 0..2.
            float best = 0;
            for (int is = -6; is <= 6; ++is) {
                const float id = (float(2 * kMaxQ - 1) + float(is) * 0.1f) / eff_max;
                const float this_scale = 1 / id;
                for (int k = 0; k < 4; ++k) {
                    for (int i = 0; i < 8; ++i)
                        Laux[8 * k + i] = int8_t(std::clamp(nearest_int(0.5f * (id * xval[8 * k + i] - 1)), 0, kMaxQ - 1));
                    grid_index(s, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale);
                }
                float sumqx = 0, sumq2 = 0;
                for (int i = 0; i < 32; ++i) {
                    const float q = float(2 * Laux[i] + 1);
                    sumqx += weight[i] * xval[i] * q;
                    sumq2 += weight[i] * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    scale = sumqx / sumq2;
                    best = scale * sumqx;
                    std::memcpy(L, Laux, 32);
                }
            }
            if (scale > 0) {
                const float id = 1 / scale;
                for (int k = 0; k < 4; ++k) {
                    for (int i = 0; i < 8; ++i)
                        L[8 * k + i] = int8_t(std::clamp(nearest_int(0.5f * (id * xval[8 * k + i] - 1)), 0, kMaxQ - 1));
                    const int g = grid_index(s, L + 8 * k, xval + 8 * k, waux + 8 * k, scale);
                    for (int i = 0; i < 8; ++i) L[8 * k + i] = int8_t((grid_level(s.grid[g], i) - 1) / 2);
                }
                float sumqx = 0, sumq2 = 0;
                for (int i = 0; i < 32; ++i) {
                    const float q = float(2 * L[i] + 1);
                    sumqx += weight[i] * xval[i] * q;
                    sumq2 += weight[i] * q * q;
                }
                if (sumq2 > 0) scale = sumqx / sumq2;
            }
            if (scale < 0) {  // llama.cpp's guard: a negative scale flips every sign instead
                scale = -scale;
                for (int k = 0; k < 4; ++k) block_signs[k] = uint8_t(~block_signs[k] & 127);
            }
            for (int k = 0; k < 4; ++k) {
                uint16_t u = 0;
                for (int i = 0; i < 8; ++i) u = uint16_t(u | L[8 * k + i] << (2 * i));
                const int g = s.map[u];
                if (g < 0) fail("internal: IQ2_XXS code vector {} is not on the grid", u);
                q2[2 * ib] |= uint32_t(g) << (8 * k);
                q2[2 * ib + 1] |= uint32_t(block_signs[k]) << (7 * k);
            }
            scales[ib] = scale;
            max_scale = std::max(max_scale, scale);
        }
        if (max_scale == 0) {
            y[ibl].d = f32_to_f16(0.0f);
            std::memset(y[ibl].qs, 0, sizeof y[ibl].qs);
            continue;
        }
        const float d = max_scale / 31;
        y[ibl].d = f32_to_f16(d);
        const float id = 1 / d;
        for (int ib = 0; ib < 8; ++ib) {
            const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
            q2[2 * ib + 1] |= uint32_t(l) << 28;
        }
        std::memcpy(y[ibl].qs, q2, sizeof q2);
    }
}

}  // namespace sluice::quant
