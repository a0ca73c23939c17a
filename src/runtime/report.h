// Speed, I/O and memory figures of a run, printed by `run --stats` and `bench`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/expert_source.h"
#include "runtime/routing_stats.h"
#include "runtime/session.h"

namespace sluice {

struct RunReport {
    double prefill_tok_s = 0, decode_tok_s = 0;
    int64_t prefill_tokens = 0, decode_tokens = 0;
    int64_t depth = 0;            // context tokens run before the measured ones (bench --depth)
    int64_t context_tokens = 0;   // positions in the KV cache at the end (0: not recorded)
    ExpertSourceStats prefill_io, decode_io;
    std::vector<double> decode_layer_hit_rates;
    RoutingSummary routing;          // empty unless routing was recorded
    std::string routing_unit;        // what one routing call is ("decode, one call per token")
    uint64_t peak_rss = 0, peak_cgroup = 0;
    uint64_t expert_bytes_per_token = 0;
    double predicted_decode_tok_s = 0;      // roofline at the planner's expected hit rate
    int64_t ubatch = 0;                     // prompt tokens per forward call
    double predicted_prefill_tok_s = 0;     // the planner's prefill roofline (0: bandwidths unknown)
    // Roofline at the share of expert bytes this run read from disk per decoded token. Not at
    // the hit rate: an expert prefetched in time counts as a hit, yet its bytes came from disk.
    double roofline_at_measured_reads_tok_s = 0;
    double decode_read_share() const;   // bytes read / (decode tokens × expert bytes per token)

    std::string text() const;   // a few lines for stderr
    std::string json() const;   // one JSON object
};

// Fills the speed and memory fields from a session (I/O fields are set by the caller).
RunReport make_report(const Session& session);

}  // namespace sluice
