#include "runtime/session.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace sluice {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Sampling from NaN logits would print tokens as if nothing were wrong (argmax of NaNs is the
// first id); a broken weight file or kernel must stop the run with an error instead.
void check_finite(std::span<const float> logits, int64_t position) {
    for (float v : logits)
        if (!std::isfinite(v)) fail("the logits at position {} are not finite ({}): the model file or a kernel is broken", position, v);
}
}  // namespace

Session::Session(Engine& engine)
    : engine_(engine), state_(engine.model().new_state(engine.context())),
      logits_(static_cast<size_t>(engine.model().config().vocab_size)) {}

void Session::reset() {
    state_->reset();
    history_.clear();
}

void Session::feed(std::span<const int32_t> tokens, int64_t ubatch) {
    auto t0 = Clock::now();
    const size_t batch = size_t(ubatch > 0 ? ubatch : engine_.prefill_batch());
    for (size_t i = 0; i < tokens.size(); i += batch) {
        size_t n = std::min(tokens.size() - i, batch);
        engine_.model().forward(*state_, tokens.data() + i, int64_t(n), logits_.data(), false);
    }
    if (!tokens.empty()) check_finite(logits_, state_->n_past - 1);
    history_.insert(history_.end(), tokens.begin(), tokens.end());
    if (tokens.size() > 1) {
        stats_.prefill_tokens += int64_t(tokens.size());
        stats_.prefill_seconds += seconds_since(t0);
    } else {
        stats_.decode_tokens += int64_t(tokens.size());
        stats_.decode_seconds += seconds_since(t0);
    }
}

std::vector<float> Session::eval_all(std::span<const int32_t> tokens) {
    const size_t V = size_t(engine_.model().config().vocab_size);
    std::vector<float> all(tokens.size() * V);
    eval_batches(tokens, [&](int64_t first, std::span<const float> logits) {
        std::copy(logits.begin(), logits.end(), all.begin() + std::ptrdiff_t(size_t(first) * V));
    });
    return all;
}

void Session::eval_batches(std::span<const int32_t> tokens, const BatchLogits& on_batch) {
    const int64_t V = engine_.model().config().vocab_size;
    auto t0 = Clock::now();
    const size_t batch = size_t(engine_.prefill_batch());
    std::vector<float> logits(std::min(batch, tokens.size()) * size_t(V));
    const int64_t start = state_->n_past;
    double callback_seconds = 0;
    for (size_t i = 0; i < tokens.size(); i += batch) {
        size_t n = std::min(tokens.size() - i, batch);
        engine_.model().forward(*state_, tokens.data() + i, int64_t(n), logits.data(), true);
        for (size_t t = 0; t < n; ++t) check_finite({logits.data() + t * size_t(V), size_t(V)}, start + int64_t(i + t));
        auto t1 = Clock::now();
        on_batch(int64_t(i), std::span<const float>(logits.data(), n * size_t(V)));
        callback_seconds += seconds_since(t1);
        if (i + n == tokens.size()) std::copy(logits.begin() + std::ptrdiff_t((n - 1) * size_t(V)),
                                              logits.begin() + std::ptrdiff_t(n * size_t(V)), logits_.begin());
    }
    history_.insert(history_.end(), tokens.begin(), tokens.end());
    stats_.prefill_tokens += int64_t(tokens.size());
    stats_.prefill_seconds += seconds_since(t0) - callback_seconds;
}

std::vector<int32_t> Session::generate(int64_t max_tokens, Sampler& sampler,
                                       const std::function<bool(int32_t)>& on_token) {
    std::vector<int32_t> out;
    for (int64_t i = 0; i < max_tokens; ++i) {
        int32_t next = sampler.sample(logits_, history_);
        out.push_back(next);
        if (on_token && !on_token(next)) break;
        if (i + 1 == max_tokens || state_->n_past >= state_->capacity) break;
        feed(std::span<const int32_t>(&next, 1));
    }
    return out;
}

}  // namespace sluice
