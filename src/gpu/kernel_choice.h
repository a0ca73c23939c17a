// Which kernels the CUDA backend runs: the float kernels of the first round (exact dequantisation,
// float32 products; "old") or the 8-bit-activation ones that follow the CPU's quantised path
// (dp4a decode, int8 tensor-core prefill; "new"), chosen by SLUICE_GPU_KERNELS so that a device
// session can run both side by side and fall back where a new one is wrong.
#pragma once

namespace sluice {

struct GpuKernelChoice {
    // Matrix × vector and the decode MoE on 8-bit activations (dp4a), fewer launches a layer (a
    // shared expert's gate and up in one, its sigmoid gate fused with the residual add, the
    // router's quantised input reused by the experts), and decode attention reading each KV row
    // once for the query heads that share it.
    bool new_decode = true;
    bool new_prefill = true;  // prefill products (grouped MoE, dense) on int8 tensor cores
};

// "new" (or unset / empty): both; "old": neither; "decode" or "prefill": that one only. Anything
// else throws sluice::Error naming SLUICE_GPU_KERNELS and the values it takes.
GpuKernelChoice parse_gpu_kernel_choice(const char* value);
// parse_gpu_kernel_choice(getenv("SLUICE_GPU_KERNELS")).
GpuKernelChoice gpu_kernel_choice();

}  // namespace sluice
