#include "runtime/routing_stats.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <functional>

#include "util/error.h"

namespace sluice {

RoutingStats::RoutingStats(int64_t n_layers, int64_t n_experts)
    : n_experts_(n_experts), layers_(size_t(std::max<int64_t>(n_layers, 0))) {
    for (auto& l : layers_) {
        l.uses.assign(size_t(n_experts), 0);
        l.previous.assign(size_t(n_experts), 0);
    }
}

void RoutingStats::record(int64_t layer, std::span<const int32_t> experts) {
    if (layer < 0 || layer >= int64_t(layers_.size()))
        fail("routing statistics: layer {} outside the model's {} layers", layer, layers_.size());
    Layer& l = layers_[size_t(layer)];
    for (int32_t e : experts)
        if (e < 0 || e >= n_experts_) fail("routing statistics: expert {} of layer {} outside 0..{}", e, layer, n_experts_ - 1);
    if (l.calls > 0 && !experts.empty()) {
        size_t shared = 0;
        for (int32_t e : experts) shared += l.previous[size_t(e)];
        l.reuse_sum += double(shared) / double(experts.size());
    }
    std::fill(l.previous.begin(), l.previous.end(), 0);
    for (int32_t e : experts) {
        ++l.uses[size_t(e)];
        l.previous[size_t(e)] = 1;
    }
    ++l.calls;
}

void RoutingStats::reset() {
    for (auto& l : layers_) {
        std::fill(l.uses.begin(), l.uses.end(), 0);
        std::fill(l.previous.begin(), l.previous.end(), 0);
        l.calls = 0;
        l.reuse_sum = 0;
    }
}

RoutingSummary RoutingStats::summary() const {
    RoutingSummary s;
    // The top 10% of the experts, at least one.
    const size_t top = size_t(std::max<int64_t>(1, (n_experts_ + 9) / 10));
    for (size_t i = 0; i < layers_.size(); ++i) {
        const Layer& l = layers_[i];
        if (l.calls == 0) continue;
        LayerRouting r;
        r.layer = int64_t(i);
        r.calls = l.calls;
        for (uint64_t u : l.uses) r.uses += u;
        if (r.uses > 0) {
            double h = 0;
            for (uint64_t u : l.uses)
                if (u) {
                    const double p = double(u) / double(r.uses);
                    h -= p * std::log(p);
                }
            r.entropy = n_experts_ > 1 ? h / std::log(double(n_experts_)) : 0.0;
            std::vector<uint64_t> sorted = l.uses;
            std::partial_sort(sorted.begin(), sorted.begin() + std::ptrdiff_t(top), sorted.end(), std::greater<>());
            uint64_t top_uses = 0;
            for (size_t k = 0; k < top; ++k) top_uses += sorted[k];
            r.top10_share = double(top_uses) / double(r.uses);
        }
        r.reuse = l.calls > 1 ? l.reuse_sum / double(l.calls - 1) : 0.0;
        s.layers.push_back(r);
    }
    for (const auto& r : s.layers) {
        s.entropy += r.entropy;
        s.top10_share += r.top10_share;
        s.reuse += r.reuse;
    }
    if (!s.layers.empty()) {
        const double n = double(s.layers.size());
        s.entropy /= n;
        s.top10_share /= n;
        s.reuse /= n;
    }
    return s;
}

std::string routing_text(const RoutingSummary& s, const std::string& unit) {
    if (s.empty()) return "";
    std::string t = fmt::format(
        "routing ({}): expert-use entropy {:.3f} (1 = even, 0 = one expert), top 10% of experts take {:.1f}% of "
        "uses, {:.1f}% of experts reused from the previous call\n",
        unit, s.entropy, 100.0 * s.top10_share, 100.0 * s.reuse);
    t += "routing per layer (entropy/top-10%/reuse):";
    for (const auto& r : s.layers)
        t += fmt::format(" {:.2f}/{:.0f}%/{:.0f}%", r.entropy, 100.0 * r.top10_share, 100.0 * r.reuse);
    t += "\n";
    return t;
}

}  // namespace sluice
