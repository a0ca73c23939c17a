#include "server/metrics.h"

#include <fmt/format.h>

#include "util/memory_usage.h"

namespace sluice::server {

namespace {
void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}
}  // namespace

std::string render_metrics(const SchedulerStats& s, const SchedulerOptions& o, const std::map<int, int64_t>& responses) {
    std::string out;
    metric(out, "sluice_requests_total", "counter", "Generation requests admitted to a sequence slot.", double(s.requests));
    metric(out, "sluice_requests_cancelled_total", "counter",
           "Requests ended early by their reader: the client went away or a stop string matched.", double(s.cancelled));
    out += "# HELP sluice_http_responses_total HTTP responses sent, by status.\n# TYPE sluice_http_responses_total counter\n";
    for (const auto& [status, n] : responses) out += fmt::format("sluice_http_responses_total{{code=\"{}\"}} {}\n", status, n);
    metric(out, "sluice_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", double(s.prompt_tokens));
    metric(out, "sluice_prompt_tokens_cached_total", "counter", "Prompt tokens whose state the prompt cache kept (not run again).",
           double(s.cached_prompt_tokens));
    metric(out, "sluice_generated_tokens_total", "counter", "Tokens sampled.", double(s.generated_tokens));
    metric(out, "sluice_generated_tokens_per_second", "gauge", "Tokens sampled per second of forward steps, since start.",
           s.busy_seconds > 0 ? double(s.generated_tokens) / s.busy_seconds : 0.0);
    metric(out, "sluice_steps_total", "counter", "Batched forward steps.", double(s.steps));
    metric(out, "sluice_queue_length", "gauge", "Requests waiting for a slot.", double(s.queued));
    metric(out, "sluice_queue_limit", "gauge", "Requests that may wait; more get 503.", double(o.queue_limit));
    metric(out, "sluice_active_sequences", "gauge", "Sequences being generated.", double(s.active));
    metric(out, "sluice_parallel_sequences", "gauge", "Sequence slots (--parallel).", double(o.parallel));
    metric(out, "sluice_expert_cache_hit_rate", "gauge", "Share of expert uses served from memory.", s.experts.hit_rate());
    // The counts behind the rate, so that a scraper can take the rate of an interval.
    metric(out, "sluice_expert_cache_hits_total", "counter", "Expert uses served from memory.", double(s.experts.hits));
    metric(out, "sluice_expert_cache_misses_total", "counter", "Expert uses read from the model file.", double(s.experts.misses));
    metric(out, "sluice_expert_bytes_read_total", "counter", "Bytes of experts read from the model file.", double(s.experts.bytes_read));
    metric(out, "sluice_peak_rss_bytes", "gauge", "Peak resident memory of the process.", double(peak_rss_bytes()));
    if (const uint64_t cg = cgroup_peak_bytes())
        metric(out, "sluice_cgroup_peak_bytes", "gauge", "Peak memory of the process's limited cgroup, page cache included.", double(cg));
    return out;
}

}  // namespace sluice::server
