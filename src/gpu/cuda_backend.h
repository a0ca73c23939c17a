// The model/backend.h operations on one NVIDIA GPU (issue 13): weights, vectors, activations and
// per-sequence state in VRAM, every operation enqueued on one stream, the host waiting only for
// the logits (and, in prefill, for the routing that groups token rows by expert).
#pragma once
#include <memory>

#include "model/backend.h"

namespace sluice {

struct CudaBackendInfo {
    int device = 0;
    std::string name;           // e.g. "NVIDIA H200"
    uint64_t total_bytes = 0, free_bytes = 0;
};

// Throws sluice::Error when there is no such device (or no CUDA driver).
std::shared_ptr<Backend> make_cuda_backend(int device);
CudaBackendInfo cuda_device_info(int device);

}  // namespace sluice
