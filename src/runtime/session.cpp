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

void Session::feed(std::span<const int32_t> tokens) {
    auto t0 = Clock::now();
    const size_t batch = size_t(std::max<int64_t>(1, engine_.options().prefill_batch));
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
    const int64_t V = engine_.model().config().vocab_size;
    std::vector<float> all(tokens.size() * size_t(V));
    auto t0 = Clock::now();
    const size_t batch = size_t(std::max<int64_t>(1, engine_.options().prefill_batch));
    for (size_t i = 0; i < tokens.size(); i += batch) {
        size_t n = std::min(tokens.size() - i, batch);
        engine_.model().forward(*state_, tokens.data() + i, int64_t(n), all.data() + i * size_t(V), true);
    }
    const int64_t first = state_->n_past - int64_t(tokens.size());
    for (size_t t = 0; t < tokens.size(); ++t) check_finite({all.data() + t * size_t(V), size_t(V)}, first + int64_t(t));
    if (!tokens.empty()) std::copy(all.end() - V, all.end(), logits_.begin());
    history_.insert(history_.end(), tokens.begin(), tokens.end());
    stats_.prefill_tokens += int64_t(tokens.size());
    stats_.prefill_seconds += seconds_since(t0);
    return all;
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
