// Scale searches of the K-quant and IQ4 reference quantisers. They follow llama.cpp's
// algorithms operation for operation (same float arithmetic in the same order), so sluice's
// `convert` writes the bytes llama-quantize writes for the same input.
#pragma once
#include <cstdint>
#include <cstring>

namespace sluice::quant {

// Below this a group is all zeros (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even, for |x| < 2^22: adding 1.5·2^23 leaves the rounded integer in
// the low mantissa bits (the same trick, and so the same results, as ggml's nearest_int).
inline int nearest_int(float x) {
    float biased = x + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &biased, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

// Symmetric fit x ≈ scale·(L − nmax), L in [0, 2·nmax): start from the scale that maps the
// largest |x| to −nmax, then try 18 nearby scales and keep the best x²-weighted least-squares
// fit (ggml's make_qx_quants with rmse_type 1). Returns the scale.
float fit_symmetric(int n, int nmax, const float* x, int8_t* L);

// Symmetric fit refined one value at a time (ggml's make_q3_quants with do_rmse): up to five
// passes that move single L[i] while the x²-weighted fit improves. L in [0, 2·nmax).
float fit_symmetric_refined(int n, int nmax, const float* x, int8_t* L);

// Affine fit x ≈ scale·L − min_out, L in [0, nmax], min_out ≥ 0, weighted by `weights`: a grid
// of nstep+1 trial scales (nmax + rmin + rdelta·i over the range), each followed by the
// closed-form least-squares scale and offset; keeps the lowest weighted error (absolute when
// use_mad, else squared). ggml's make_qkx2_quants. Returns the scale.
float fit_affine(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* min_out, float rmin,
                 float rdelta, int nstep, bool use_mad);

// Weighted fit x ≈ scale·L of non-negative x, L in [0, nmax]: the scale mapping the largest x
// to nmax and eight nearby ones, then up to five passes moving single L[i] while the weighted
// fit improves (ggml's make_qp_quants). Returns the scale.
float fit_positive_weighted(int n, int nmax, const float* x, uint8_t* L, const float* weights);

}  // namespace sluice::quant
