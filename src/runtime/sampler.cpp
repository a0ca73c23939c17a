#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace sluice {

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    const int64_t V = int64_t(logits.size());
    candidates_.resize(size_t(V));
    for (int64_t i = 0; i < V; ++i) candidates_[size_t(i)] = {logits[size_t(i)], int32_t(i)};

    if (opt_.repeat_penalty != 1.0f && !history.empty()) {
        size_t from = history.size() > size_t(opt_.repeat_last_n) ? history.size() - size_t(opt_.repeat_last_n) : 0;
        std::unordered_set<int32_t> seen(history.begin() + std::ptrdiff_t(from), history.end());
        for (int32_t t : seen) {
            if (t < 0 || t >= V) continue;
            float& l = candidates_[size_t(t)].first;
            l = l > 0 ? l / opt_.repeat_penalty : l * opt_.repeat_penalty;
        }
    }

    auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    if (opt_.temperature <= 0.0f)
        return std::min_element(candidates_.begin(), candidates_.end(), by_logit)->second;

    size_t keep = candidates_.size();
    if (opt_.top_k > 0) keep = std::min(keep, size_t(opt_.top_k));
    std::partial_sort(candidates_.begin(), candidates_.begin() + std::ptrdiff_t(keep), candidates_.end(), by_logit);
    candidates_.resize(keep);

    // Softmax over the kept candidates at the given temperature.
    const float mx = candidates_[0].first;
    double sum = 0;
    for (auto& c : candidates_) sum += c.first = std::exp((c.first - mx) / opt_.temperature);
    for (auto& c : candidates_) c.first = float(c.first / sum);

    if (opt_.min_p > 0) {
        const float floor = candidates_[0].first * opt_.min_p;
        size_t n = 1;
        while (n < candidates_.size() && candidates_[n].first >= floor) ++n;
        candidates_.resize(n);
    }
    if (opt_.top_p < 1.0f) {
        double acc = 0;
        size_t n = 0;
        while (n < candidates_.size()) {
            acc += candidates_[n++].first;
            if (acc >= opt_.top_p) break;
        }
        candidates_.resize(n);
    }
    double total = 0;
    for (const auto& c : candidates_) total += c.first;
    double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
    for (const auto& c : candidates_) {
        r -= c.first;
        if (r <= 0) return c.second;
    }
    return candidates_.back().second;
}

}  // namespace sluice
