#include "cuda/check.h"

#include <cstring>

#include "util/error.h"

namespace sluice::cuda {

namespace {

// "src/cuda/matvec.cu" rather than the build machine's absolute path.
const char* source_path(const char* file) {
    for (const char* dir : {"src/cuda/", "tests/cuda/"})
        if (const char* s = std::strstr(file, dir)) return s;
    return file;
}

}  // namespace

void throw_error(const std::string& message) { throw Error(message); }

void throw_no_kernel(const char* op, GgmlType type) { fail("{}: no CUDA kernel for type {}", op, type_name(type)); }

void throw_cuda_error(const char* call, cudaError_t err, const char* file, int line) {
    // A failed call also leaves its error as the thread's "last error", which the next launch
    // check would report as its own (seen under compute-sanitizer after a refused allocation):
    // clear it, so a failure that is caught and handled does not poison the next operation.
    cudaGetLastError();
    fail("CUDA error in {} ({}:{}): {} ({})", call, source_path(file), line, cudaGetErrorString(err),
         cudaGetErrorName(err));
}

void throw_cublas_error(const char* call, cublasStatus_t status, const char* file, int line) {
    fail("cuBLAS error in {} ({}:{}): {}", call, source_path(file), line, cublasGetStatusString(status));
}

}  // namespace sluice::cuda
