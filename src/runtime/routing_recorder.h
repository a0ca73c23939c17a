// An ExpertSource that records which experts each layer asks for (RoutingStats) and passes
// every request on to the source that has the weights. The engine puts it in front of the real
// source only when statistics are asked for, so a plain run pays nothing.
#pragma once
#include "model/expert_source.h"
#include "runtime/routing_stats.h"

namespace sluice {

class RoutingRecorder : public ExpertSource {
public:
    RoutingRecorder(ExpertSource& inner, int64_t n_layers, int64_t n_experts);

    void with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) override;
    bool wants_prefetch() const override { return inner_.wants_prefetch(); }
    void prefetch(int64_t layer, std::span<const int32_t> experts) override { inner_.prefetch(layer, experts); }
    ExpertSourceStats stats() const override { return inner_.stats(); }
    // Routing is counted since the last reset too, so `run` and `bench` report decode alone.
    void reset_stats() override;
    std::vector<double> layer_hit_rates() const override { return inner_.layer_hit_rates(); }

    const RoutingStats& routing() const { return routing_; }

private:
    ExpertSource& inner_;
    RoutingStats routing_;
};

}  // namespace sluice
