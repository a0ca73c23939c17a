// Activations to 8 bits on the device, bit for bit as the CPU quantises them (q8_arith.h):
// Q8_K with a warp per 256-value block (eight values a lane), Q8_0 with four lanes per block.
#include <climits>

#include "cuda/dispatch.cuh"
#include "cuda/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/q8_arith.h"
#include "cuda/reduce.cuh"

namespace sluice::cuda {

namespace {

// Eight levels as two little-endian words.
__device__ inline void store_levels(int8_t* dst, const int8_t (&q)[8]) {
    int w[2] = {0, 0};
    for (int i = 0; i < 8; ++i) w[i / 4] |= (int(q[i]) & 0xFF) << (8 * (i % 4));
    reinterpret_cast<int*>(dst)[0] = w[0];
    reinterpret_cast<int*>(dst)[1] = w[1];
}

// Lane l holds values 8l..8l+7 of block b. The CPU's scale comes from the first value of the
// largest magnitude: each lane offers its first, the lowest position wins.
__global__ void quantize_q8_k_kernel(const float* x, int64_t blocks, BlockQ8_K* dst) {
    const int64_t b = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
    const int lane = threadIdx.x % kWarp;
    if (b >= blocks) return;  // whole warps: blockDim is a multiple of 32
    float v[8];
    float amax = 0.0f;
    for (int i = 0; i < 8; ++i) {
        v[i] = x[b * 256 + 8 * lane + i];
        amax = fmaxf(amax, fabsf(v[i]));
    }
    amax = warp_max(amax);
    BlockQ8_K& out = dst[b];
    if (amax == 0.0f) {
        const int8_t zero[8] = {};
        store_levels(out.qs + 8 * lane, zero);
        if (lane < 16) out.bsums[lane] = 0;
        if (lane == 0) out.d = 0.0f;
        return;
    }
    int first = INT_MAX;
    float max = 0.0f;
    for (int i = 7; i >= 0; --i)
        if (fabsf(v[i]) == amax) first = 8 * lane + i, max = v[i];
    for (int o = kWarp / 2; o > 0; o /= 2) {
        const int other = __shfl_xor_sync(0xffffffffu, first, o);
        const float other_max = __shfl_xor_sync(0xffffffffu, max, o);
        if (other < first) first = other, max = other_max;
    }
    const float iscale = q8::q8k_iscale(max);
    int8_t q[8];
    int sum = 0;
    for (int i = 0; i < 8; ++i) {
        q[i] = q8::q8k_level(v[i], iscale);
        sum += q[i];
    }
    store_levels(out.qs + 8 * lane, q);
    sum += __shfl_down_sync(0xffffffffu, sum, 1);  // lanes 2g and 2g + 1 hold values 16g..16g+15
    if (lane % 2 == 0) out.bsums[lane / 2] = int16_t(sum);
    if (lane == 0) out.d = q8::q8k_d(iscale);
}

// Thread t: values 8(t%4).. of block t/4; the four threads of a block are adjacent lanes.
__global__ void quantize_q8_0_kernel(const float* x, int64_t blocks, q8::ActQ8_0* dst) {
    const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t b = t / 4;
    const int part = int(t % 4);
    const bool valid = b < blocks;
    float v[8] = {};
    float amax = 0.0f;
    if (valid)
        for (int i = 0; i < 8; ++i) {
            v[i] = x[b * 32 + 8 * part + i];
            amax = fmaxf(amax, fabsf(v[i]));
        }
    // Every lane takes part in the shuffles, valid or not.
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
    if (!valid) return;
    const float inverse = q8::q8_0_inverse(amax);
    int8_t q[8];
    for (int i = 0; i < 8; ++i) q[i] = q8::q8_0_level(v[i], inverse);
    store_levels(dst[b].qs + 8 * part, q);
    if (part == 0) dst[b].d = q8::q8_0_d(amax);
}

}  // namespace

bool has_q8_kernel(GgmlType type) { return q8::has_q8_unit(type); }

size_t q8_activation_bytes(GgmlType type, int64_t rows, int64_t cols) {
    return size_t(rows) * q8::q8_row_bytes(type, cols);
}

void quantize_activations(GgmlType type, const float* x, int64_t rows, int64_t cols, void* dst, cudaStream_t stream) {
    if (!has_q8_kernel(type)) throw_no_kernel("quantize_activations", type);
    check_non_negative("quantize_activations", "rows", rows);
    const int64_t block = type == GgmlType::Q8_0 ? 32 : 256;
    if (cols <= 0 || cols % block != 0)
        throw_error("quantize_activations: rows of " + std::to_string(cols) + " values are not whole blocks of " +
                    std::to_string(block));
    const int64_t blocks = rows * cols / block;
    if (blocks == 0) return;
    if (type == GgmlType::Q8_0) {
        quantize_q8_0_kernel<<<element_blocks(blocks * 4), kElementThreads, 0, stream>>>(
            x, blocks, static_cast<q8::ActQ8_0*>(dst));
        SLUICE_CUDA_CHECK_LAUNCH("quantize_q8_0_kernel");
    } else {
        quantize_q8_k_kernel<<<element_blocks(blocks * kWarp), kElementThreads, 0, stream>>>(
            x, blocks, static_cast<BlockQ8_K*>(dst));
        SLUICE_CUDA_CHECK_LAUNCH("quantize_q8_k_kernel");
    }
}

}  // namespace sluice::cuda
