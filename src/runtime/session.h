// One conversation with a model: its state (KV cache, recurrent state), prefill in batches,
// and token-by-token generation with timing statistics.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "runtime/engine.h"
#include "runtime/sampler.h"

namespace sluice {

struct SessionStats {
    int64_t prefill_tokens = 0, decode_tokens = 0;
    double prefill_seconds = 0, decode_seconds = 0;
};

class Session {
public:
    explicit Session(Engine& engine);

    // Processes tokens, keeping the last position's logits. Prompts are run in forward calls of
    // `ubatch` tokens (0: the engine's prefill_batch()); a caller interleaving other work, such
    // as the server's decode steps, chooses its own chunk.
    void feed(std::span<const int32_t> tokens, int64_t ubatch = 0);
    // Logits at every position of tokens [n, vocab], from the current state.
    std::vector<float> eval_all(std::span<const int32_t> tokens);
    // The same in the engine's prefill batches, each batch's logits [n, vocab] handed to
    // on_batch with the index in tokens of its first row; one batch's logits are held at a time.
    using BatchLogits = std::function<void(int64_t first, std::span<const float> logits)>;
    void eval_batches(std::span<const int32_t> tokens, const BatchLogits& on_batch);

    std::span<const float> logits() const { return logits_; }
    int64_t vocab_size() const { return int64_t(logits_.size()); }
    const std::vector<int32_t>& history() const { return history_; }
    int64_t n_past() const { return state_->n_past; }
    void reset();

    // Samples up to max_tokens after the fed prompt, calling on_token for each; stops early
    // when on_token returns false. Returns the generated ids.
    std::vector<int32_t> generate(int64_t max_tokens, Sampler& sampler,
                                  const std::function<bool(int32_t)>& on_token = {});

    const SessionStats& stats() const { return stats_; }
    void reset_stats() { stats_ = {}; }   // e.g. after a context that is not to be timed

private:
    Engine& engine_;
    std::unique_ptr<ModelState> state_;
    std::vector<float> logits_;
    std::vector<int32_t> history_;
    SessionStats stats_;
};

}  // namespace sluice
