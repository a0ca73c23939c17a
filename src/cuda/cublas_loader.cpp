// cuBLAS loaded when first used instead of linked: libcublasLt alone is ~540 MB, and mapping it
// at start-up put ~215 MB of page cache into every process of a CUDA build (measured: 225 MB
// peak RSS for a CPU run of a 2 MB model, 9 MB without), which broke the --mem budget of runs
// that never touch the GPU. These definitions of the few cuBLAS entry points sluice calls
// forward to the library, opened on the first call.
#include <cublas_v2.h>
#include <dlfcn.h>

#include <string>

#include "util/error.h"

namespace sluice::cuda {
namespace {

void* cublas_symbol(const char* name) {
    static void* library = [] {
        const std::string so = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
        void* h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) fail("cannot load {}, which the GPU's prefill products need: {}", so, dlerror());
        return h;
    }();
    void* f = dlsym(library, name);
    if (!f) fail("cuBLAS has no {}: {}", name, dlerror());
    return f;
}

template <class Fn>
Fn* entry(const char* name) {
    return reinterpret_cast<Fn*>(cublas_symbol(name));
}

}  // namespace
}  // namespace sluice::cuda

using sluice::cuda::entry;

extern "C" {

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
    static auto* f = entry<cublasStatus_t(cublasHandle_t*)>("cublasCreate_v2");
    return f(handle);
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
    static auto* f = entry<cublasStatus_t(cublasHandle_t)>("cublasDestroy_v2");
    return f(handle);
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
    static auto* f = entry<cublasStatus_t(cublasHandle_t, cudaStream_t)>("cublasSetStream_v2");
    return f(handle, stream);
}

const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
    static auto* f = entry<const char*(cublasStatus_t)>("cublasGetStatusString");
    return f(status);
}

cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                                         int n, int k, const void* alpha, const void* A, cudaDataType Atype, int lda,
                                         const void* B, cudaDataType Btype, int ldb, const void* beta, void* C,
                                         cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                         cublasGemmAlgo_t algo) {
    using Fn = cublasStatus_t(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*, const void*,
                              cudaDataType, int, const void*, cudaDataType, int, const void*, void*, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t);
    static auto* f = entry<Fn>("cublasGemmEx");
    return f(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc, computeType, algo);
}

}  // extern "C"
