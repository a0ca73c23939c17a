// /metrics in Prometheus' text format: requests, tokens in and out, decode speed, queue, the
// expert cache's hit rate, bytes read from disk and peak memory.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "server/scheduler.h"

namespace sluice::server {

// `responses`: HTTP responses sent, by status.
std::string render_metrics(const SchedulerStats& stats, const SchedulerOptions& options, const std::map<int, int64_t>& responses);

}  // namespace sluice::server
