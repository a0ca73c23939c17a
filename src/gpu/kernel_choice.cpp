#include "gpu/kernel_choice.h"

#include <cstdlib>
#include <string>

#include "util/error.h"

namespace sluice {

GpuKernelChoice parse_gpu_kernel_choice(const char* value) {
    const std::string v = value ? value : "";
    if (v.empty() || v == "new") return {true, true};
    if (v == "old") return {false, false};
    if (v == "decode") return {true, false};
    if (v == "prefill") return {false, true};
    fail("SLUICE_GPU_KERNELS={}: expected old, new, decode or prefill", v);
}

GpuKernelChoice gpu_kernel_choice() { return parse_gpu_kernel_choice(std::getenv("SLUICE_GPU_KERNELS")); }

}  // namespace sluice
