// The server's scheduler over a model on the GPU (`sluice serve --gpu`): the checks the CPU's
// scheduler passes (tests/server), with the model's weights, KV cache and recurrent states in VRAM.
#include <gtest/gtest.h>

#include "cuda/gpu_test_support.h"
#include "server/scheduler_checks.h"

namespace sluice::server {
namespace {

TEST(GpuScheduler, BatchedGreedyEqualsOneAtATimeAndSession) {
    SLUICE_REQUIRE_GPU();
    checks::expect_batched_greedy_equals_one_at_a_time(0);
}

// The recurrent layers' checkpoints are taken from and restored into device memory.
TEST(GpuScheduler, PromptCacheResumesAConversation) {
    SLUICE_REQUIRE_GPU();
    checks::expect_prompt_cache_resumes_a_conversation(0);
}

}  // namespace
}  // namespace sluice::server
