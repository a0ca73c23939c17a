// Every CUDA runtime and cuBLAS call goes through these checks: a failure becomes a one-line
// sluice::Error naming the call, where it was made and CUDA's own description of the error.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "quant/types.h"

namespace sluice::cuda {

// sluice::Error with this message (for the .cu files, which are C++17 and do not use fmt).
[[noreturn]] void throw_error(const std::string& message);
// "<op>: no CUDA kernel for type <name>".
[[noreturn]] void throw_no_kernel(const char* op, GgmlType type);
[[noreturn]] void throw_cuda_error(const char* call, cudaError_t err, const char* file, int line);
[[noreturn]] void throw_cublas_error(const char* call, cublasStatus_t status, const char* file, int line);

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
    if (err != cudaSuccess) throw_cuda_error(call, err, file, line);
}
inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) throw_cublas_error(call, status, file, line);
}

}  // namespace sluice::cuda

#define SLUICE_CUDA_CHECK(call) ::sluice::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define SLUICE_CUBLAS_CHECK(call) ::sluice::cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports a bad launch configuration (the kernel's own faults surface at
// the next synchronising call).
#define SLUICE_CUDA_CHECK_LAUNCH(kernel) \
    ::sluice::cuda::check_cuda(cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)
