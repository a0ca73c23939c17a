#include "runtime/report.h"

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/memory_usage.h"
#include "util/size.h"

namespace sluice {

RunReport make_report(const Session& session) {
    const SessionStats& s = session.stats();
    RunReport r;
    r.prefill_tokens = s.prefill_tokens;
    r.decode_tokens = s.decode_tokens;
    r.prefill_tok_s = s.prefill_seconds > 0 ? double(s.prefill_tokens) / s.prefill_seconds : 0;
    r.decode_tok_s = s.decode_seconds > 0 ? double(s.decode_tokens) / s.decode_seconds : 0;
    r.peak_rss = peak_rss_bytes();
    r.peak_cgroup = cgroup_peak_bytes();
    return r;
}

std::string RunReport::text() const {
    auto io = [](const char* what, const ExpertSourceStats& st) {
        double gbps = st.read_seconds > 0 ? double(st.bytes_read) / st.read_seconds / 1e9 : 0;
        double acc = st.prefetch_issued ? double(st.prefetch_used) / double(st.prefetch_issued) : 0;
        return fmt::format("{}: read {} ({:.2f} GB/s while reading), expert hit rate {:.1f}%, prefetch {} issued, {:.1f}% used\n",
                           what, format_size(st.bytes_read), gbps, 100.0 * st.hit_rate(), st.prefetch_issued, 100.0 * acc);
    };
    // Without decode (perplexity scores batches alone) the decode figures are left out.
    std::string s = depth ? fmt::format("after a context of {} tokens: ", depth) : std::string();
    s += fmt::format("prefill: {} tokens, {:.2f} tok/s", prefill_tokens, prefill_tok_s);
    if (ubatch) s += fmt::format(" (ubatch {})", ubatch);
    s += decode_tokens ? fmt::format("; decode: {} tokens, {:.2f} tok/s\n", decode_tokens, decode_tok_s) : "\n";
    s += io("prefill I/O", prefill_io);
    if (decode_tokens) s += io("decode I/O", decode_io);
    if (!decode_layer_hit_rates.empty()) {
        s += "decode hit rate per layer:";
        for (double h : decode_layer_hit_rates) s += fmt::format(" {:.0f}%", 100.0 * h);
        s += "\n";
    }
    s += routing_text(routing, routing_unit);
    s += fmt::format("peak memory: {} resident", format_size(peak_rss));
    if (peak_cgroup) s += fmt::format(", {} with page cache (cgroup)", format_size(peak_cgroup));
    s += "\n";
    return s;
}

double RunReport::decode_read_share() const {
    if (decode_tokens == 0 || expert_bytes_per_token == 0) return 0;
    return double(decode_io.bytes_read) / (double(decode_tokens) * double(expert_bytes_per_token));
}

std::string RunReport::json() const {
    nlohmann::json j = {
        {"prefill_tokens", prefill_tokens},
        {"decode_tokens", decode_tokens},
        {"depth", depth},
        {"prefill_tok_s", prefill_tok_s},
        {"decode_tok_s", decode_tok_s},
        {"bytes_read", prefill_io.bytes_read + decode_io.bytes_read},
        {"decode_bytes_read", decode_io.bytes_read},
        {"hit_rate", decode_io.hit_rate()},
        {"prefill_hit_rate", prefill_io.hit_rate()},
        {"prefill_bytes_read", prefill_io.bytes_read},
        {"prefill_read_seconds", prefill_io.read_seconds},
        {"ubatch", ubatch},
        {"predicted_prefill_tok_s", predicted_prefill_tok_s},
        {"read_gb_s", decode_io.read_seconds > 0 ? double(decode_io.bytes_read) / decode_io.read_seconds / 1e9 : 0.0},
        {"prefetch_issued", decode_io.prefetch_issued},
        {"prefetch_accuracy",
         decode_io.prefetch_issued ? double(decode_io.prefetch_used) / double(decode_io.prefetch_issued) : 0.0},
        {"layer_hit_rates", decode_layer_hit_rates},
        {"peak_bytes", std::max(peak_rss, peak_cgroup)},
        {"peak_rss_bytes", peak_rss},
        {"peak_cgroup_bytes", peak_cgroup},
        {"expert_bytes_per_token", expert_bytes_per_token},
        {"predicted_decode_tok_s", predicted_decode_tok_s},
        {"decode_read_share", decode_read_share()},
        {"roofline_at_measured_reads_tok_s", roofline_at_measured_reads_tok_s},
    };
    if (context_tokens) j["context_tokens"] = context_tokens;
    if (!routing.empty()) {
        nlohmann::json layers = nlohmann::json::array();
        for (const auto& l : routing.layers)
            layers.push_back({{"layer", l.layer},
                              {"calls", l.calls},
                              {"entropy", l.entropy},
                              {"top10_share", l.top10_share},
                              {"reuse", l.reuse}});
        j["routing"] = {{"counted", routing_unit},
                        {"entropy", routing.entropy},
                        {"top10_share", routing.top10_share},
                        {"reuse", routing.reuse},
                        {"layers", layers}};
    }
    return j.dump();
}

}  // namespace sluice
