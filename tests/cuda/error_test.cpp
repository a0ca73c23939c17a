// CUDA and cuBLAS failures become one-line sluice::Errors naming the call and the cause.
#include <gtest/gtest.h>

#include <string>

#include "cuda/gpu_test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

TEST(CudaErrors, AFailedCallIsAnErrorNamingItAndTheCause) {
    // No device needed: the check itself turns the status into the message.
    try {
        SLUICE_CUDA_CHECK(cudaErrorMemoryAllocation);
        FAIL() << "no exception";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("CUDA error in cudaErrorMemoryAllocation (tests/cuda/error_test.cpp:"), std::string::npos) << msg;
        EXPECT_NE(msg.find("out of memory"), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    try {
        SLUICE_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED);
        FAIL() << "no exception";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cuBLAS error in CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos)
            << e.what();
    }
}

TEST(CudaErrors, AnImpossibleAllocationIsAnError) {
    SLUICE_REQUIRE_GPU();
    try {
        cuda::DeviceBuffer<float> huge(size_t(1) << 50);  // 4 PiB
        FAIL() << "allocated 4 PiB";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("cudaMalloc"), std::string::npos) << msg;
        EXPECT_NE(msg.find("out of memory"), std::string::npos) << msg;
    }
    // The failed call leaves the context usable.
    cuda::DeviceBuffer<float> small(std::vector<float>{1.0f, 2.0f});
    EXPECT_EQ(small.download(), (std::vector<float>{1.0f, 2.0f}));
}

}  // namespace
}  // namespace sluice
