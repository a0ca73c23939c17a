// NeoX rotary embedding: one thread per (token, pair index i, head) computes the angle in double
// (positions reach 10^5, where a float angle loses the fine phase) and rotates that pair. The
// angle is recomputed per head: a decode step's 64 pairs would otherwise leave one block walking
// every head in turn (10 µs a call on the H200, about a tenth of a 30B token).
#include "cuda/kernels.h"
#include "cuda/launch.cuh"

namespace sluice::cuda {

namespace {

__global__ void rope_neox_kernel(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim, int64_t pos0,
                                 double theta) {
    const int64_t half = rot_dim / 2;
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= n * half) return;
    const int64_t t = idx / half, i = idx % half, h = blockIdx.y;
    const double angle = double(pos0 + t) * pow(theta, -2.0 * double(i) / double(rot_dim));
    double s, c;
    sincos(angle, &s, &c);
    float* v = x + (t * heads + h) * head_dim;
    const double a = v[i], b = v[i + half];
    v[i] = float(a * c - b * s);
    v[i + half] = float(b * c + a * s);
}

}  // namespace

void rope_neox(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim, int64_t pos0, float theta,
               cudaStream_t stream) {
    check_non_negative("rope_neox", "n", n);
    check_positive("rope_neox", "heads", heads);
    if (heads > 65535) throw_error("rope_neox: " + std::to_string(heads) + " heads (1..65535, a grid dimension)");
    check_non_negative("rope_neox", "pos0", pos0);
    if (rot_dim <= 0 || rot_dim % 2 != 0 || rot_dim > head_dim)
        throw_error("rope_neox: rot_dim " + std::to_string(rot_dim) + " must be even and in 2.." +
                    std::to_string(head_dim));
    if (n == 0) return;
    const dim3 grid(element_blocks(n * rot_dim / 2), unsigned(heads));
    rope_neox_kernel<<<grid, kElementThreads, 0, stream>>>(x, n, heads, head_dim, rot_dim, pos0, double(theta));
    SLUICE_CUDA_CHECK_LAUNCH("rope_neox_kernel");
}

}  // namespace sluice::cuda
