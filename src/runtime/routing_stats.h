// Statistics of which routed experts a model asks for, per layer: how evenly the uses spread
// over the experts (popularity) and how many of a call's experts the previous call of the same
// layer also used (reuse, what a cache keeps on hitting). One record per request for experts:
// per token in decode, per forward batch (the union of its tokens' experts) in prefill.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sluice {

struct LayerRouting {
    int64_t layer = 0;
    uint64_t calls = 0, uses = 0;
    // Entropy of the expert-use distribution over log(n_experts): 1 when every expert is used
    // equally often, 0 when one expert takes every use.
    double entropy = 0;
    double top10_share = 0;   // share of uses taken by the most used 10% of the experts
    double reuse = 0;         // mean share of a call's experts the previous call also used
};

struct RoutingSummary {
    std::vector<LayerRouting> layers;   // layers with at least one call
    // Means over those layers.
    double entropy = 0, top10_share = 0, reuse = 0;
    bool empty() const { return layers.empty(); }
};

class RoutingStats {
public:
    RoutingStats(int64_t n_layers, int64_t n_experts);

    // One request of `layer` for `experts` (distinct ids in [0, n_experts)).
    void record(int64_t layer, std::span<const int32_t> experts);
    void reset();
    RoutingSummary summary() const;

private:
    struct Layer {
        std::vector<uint64_t> uses;      // by expert
        std::vector<uint8_t> previous;   // experts of the previous call, as flags
        uint64_t calls = 0;
        double reuse_sum = 0;            // over calls after the first
    };
    int64_t n_experts_;
    std::vector<Layer> layers_;
};

// "entropy 0.87, top-10% 23.4% ..." lines for `--stats`; `unit` says what one call is.
std::string routing_text(const RoutingSummary& s, const std::string& unit);

}  // namespace sluice
