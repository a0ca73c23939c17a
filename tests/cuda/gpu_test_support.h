// Shared by the GPU tests: skipping where no CUDA device exists, random data, device copies.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "cuda/device_buffer.h"
#include "util/error.h"

namespace sluice::test {

inline bool gpu_available() {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

// First statement of every GPU test: a machine without a device reports the test as skipped.
#define SLUICE_REQUIRE_GPU() \
    if (!::sluice::test::gpu_available()) GTEST_SKIP() << "no CUDA device"

// Unit round-off of float32.
inline constexpr double kFloatEps = 1.0 / (1 << 24);

inline std::vector<float> uniform_values(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

template <class T>
cuda::DeviceBuffer<T> to_device(const std::vector<T>& host) {
    return cuda::DeviceBuffer<T>(host);
}

// Waits for the default stream and surfaces any kernel fault as a sluice::Error.
inline void sync_device() { SLUICE_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace sluice::test
