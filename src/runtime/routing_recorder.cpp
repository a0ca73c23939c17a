#include "runtime/routing_recorder.h"

namespace sluice {

RoutingRecorder::RoutingRecorder(ExpertSource& inner, int64_t n_layers, int64_t n_experts)
    : inner_(inner), routing_(n_layers, n_experts) {}

void RoutingRecorder::with_experts(int64_t layer, std::span<const int32_t> experts, const Use& use) {
    routing_.record(layer, experts);
    inner_.with_experts(layer, experts, use);
}

void RoutingRecorder::reset_stats() {
    inner_.reset_stats();
    routing_.reset();
}

}  // namespace sluice
