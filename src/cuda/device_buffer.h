// An owned device allocation of `count` values of T, with synchronous copies to and from the
// host (set-up and tests; the forward pass copies on its stream).
#pragma once
#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "cuda/check.h"

namespace sluice::cuda {

template <class T>
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(size_t count) : count_(count) {
        if (count > 0) SLUICE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)));
    }
    explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    DeviceBuffer(DeviceBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), count_(std::exchange(o.count_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(count_, o.count_);
        return *this;
    }
    ~DeviceBuffer() {
        if (data_) cudaFree(data_);  // no throw from a destructor; a failed free leaks at worst
    }

    T* get() const { return data_; }
    size_t size() const { return count_; }

    // Copies the first host.size() values (at most size()).
    void upload(const std::vector<T>& host) {
        if (!host.empty())
            SLUICE_CUDA_CHECK(cudaMemcpy(data_, host.data(), std::min(host.size(), count_) * sizeof(T),
                                         cudaMemcpyHostToDevice));
    }
    std::vector<T> download() const {
        std::vector<T> host(count_);
        if (count_ > 0) SLUICE_CUDA_CHECK(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost));
        return host;
    }

private:
    T* data_ = nullptr;
    size_t count_ = 0;
};

}  // namespace sluice::cuda
