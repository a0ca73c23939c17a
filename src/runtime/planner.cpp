#include "runtime/planner.h"

#include <algorithm>
#include <cmath>

#include "model/streaming_experts.h"
#include "util/error.h"
#include "util/size.h"

namespace sluice {

namespace {
constexpr uint64_t kReserve = 24ull << 20;          // code, libraries, thread stacks, allocator slack
}  // namespace

namespace {

// Activations and buffers of one forward of a `ubatch`-token prompt chunk beside a decode token of
// each of the other `sequences - 1` sequences, and attention scores over `context`. Logits are
// computed for each sequence's last row only, or for every row with `all_logits` (the caller's
// buffer in Session::eval_batches): at a vocabulary of 152k-248k they are 0.6-1 MB a row, more
// than the rest of a row's scratch, so counting them for every row would take cache slots for
// nothing and keep prefill ubatches small.
uint64_t scratch_bytes(const ModelConfig& c, int64_t ubatch, int64_t sequences, int64_t context, bool all_logits) {
    const int64_t widest = std::max({c.hidden, 2 * c.n_heads * c.head_dim, 2 * c.lin_k_heads * c.lin_k_dim + 2 * c.lin_v_heads * c.lin_v_dim,
                                     c.n_heads * (c.kv_lora + c.rope_dim), c.dense_ffn});
    const uint64_t rows = uint64_t(std::max<int64_t>(ubatch, 1) + sequences - 1);
    const uint64_t logit_rows = all_logits ? rows : uint64_t(sequences);
    return rows * uint64_t(8 * widest + c.n_experts) * 4 + logit_rows * uint64_t(c.vocab_size) * 4 +
           uint64_t(context) * 4 * uint64_t(c.n_heads);
}

int64_t elements(const TensorRef& t) {
    int64_t n = 1;
    for (int64_t d : t.ne) n *= d;
    return n;
}

// Multiply-adds per prompt token: every dense matrix but the embedding table and the output
// head (run for the last position only), and K experts of each layer.
double prefill_flops_per_token(const ModelDesc& desc, int64_t K) {
    double params = 0;
    for (const auto& [name, t] : desc.tensors)
        if (t.ne.size() >= 2 && name != "token_embd.weight" && name != "output.weight") params += double(elements(t));
    for (const LayerExperts& le : desc.experts)
        for (const ExpertProjection* p : {&le.gate, &le.up, &le.down}) params += double(K) * double(p->rows * p->cols);
    return 2 * params;
}

}  // namespace

MemoryPlan plan_memory(const ModelDesc& desc, uint64_t budget, int64_t context, KvCacheType cache_type,
                       int64_t experts_per_token, const Bandwidth& bw, int64_t ubatch, int64_t sequences,
                       bool prompt_cache, bool all_logits) {
    if (sequences < 1) fail("the memory plan needs at least one sequence, got {}", sequences);
    const ModelConfig& c = desc.config;
    MemoryPlan p;
    p.budget = budget;
    p.context = context;
    p.sequences = sequences;
    p.cache_type = cache_type;
    p.dense = desc.dense_bytes();
    p.experts_per_token = experts_per_token > 0 ? experts_per_token : c.n_experts_used;
    for (const auto& le : desc.experts) p.expert_bytes = std::max(p.expert_bytes, le.expert_bytes());
    for (const auto& le : desc.experts) p.expert_bytes_per_token += le.expert_bytes() * uint64_t(p.experts_per_token);
    p.total_experts = c.moe_layers() * c.n_experts;
    const TensorRef* embd = desc.find("token_embd.weight");
    p.active_dense = p.dense - (embd && desc.find("output.weight") ? embd->bytes : 0);

    for (int64_t l = 0; l < c.n_layers; ++l) {
        if (c.is_linear(l)) {
            const int64_t conv_dim = 2 * c.lin_k_heads * c.lin_k_dim + c.lin_v_heads * c.lin_v_dim;
            const uint64_t recurrent = uint64_t(c.lin_v_heads * c.lin_k_dim * c.lin_v_dim + (c.conv_kernel - 1) * conv_dim) * 4;
            p.state += recurrent;
            if (prompt_cache) p.checkpoints += recurrent;
        } else if (c.is_mla()) {
            p.state += latent_cache_bytes(cache_type, context, c.kv_lora + c.rope_dim);
        } else {
            p.state += kv_cache_bytes(cache_type, context, c.n_kv_heads, c.head_dim);
        }
    }
    p.state *= uint64_t(sequences);
    p.checkpoints *= uint64_t(sequences);
    p.reserve = kReserve;
    p.slot_bytes = ExpertCache::slot_bytes_for(expert_layout(desc));
    const uint64_t slot = p.slot_bytes;
    p.ubatch = ubatch;
    if (p.ubatch <= 0 && budget == 0) p.ubatch = kDefaultUbatch;
    if (p.ubatch <= 0) {   // and the rest must still hold one layer's K experts
        p.ubatch = kMinUbatch;
        for (int64_t u = kMinUbatch * 2; u <= std::min(kMaxUbatch, context); u *= 2) {
            const uint64_t scratch = scratch_bytes(c, u, sequences, context, all_logits);
            if (double(scratch) <= kScratchShare * double(budget) &&
                p.dense + p.state + p.checkpoints + scratch + p.reserve + slot * uint64_t(p.experts_per_token) <= budget)
                p.ubatch = u;
        }
    }
    p.scratch = scratch_bytes(c, p.ubatch, sequences, context, all_logits);

    if (budget == 0) {
        p.cache_slots = p.total_experts;
        p.expert_cache = 0;
        p.expected_hit_rate = 1.0;
    } else {
        const uint64_t fixed = p.dense + p.state + p.checkpoints + p.scratch + p.reserve;
        const uint64_t needed = fixed + slot * uint64_t(p.experts_per_token);
        if (budget < needed)
            fail("--mem {} is too small for this model: it needs at least {} (dense weights {}, state {}, scratch {}, "
                 "overhead {}, and one layer's {} experts of {} each)",
                 format_size(budget), format_size(needed), format_size(p.dense), format_size(p.state + p.checkpoints),
                 format_size(p.scratch), format_size(p.reserve), p.experts_per_token, format_size(slot));
        p.expert_cache = budget - fixed;
        p.cache_slots = std::min<int64_t>(int64_t(p.expert_cache / slot), p.total_experts);
        p.expected_hit_rate = std::min(1.0, double(p.cache_slots) / double(p.total_experts));
    }
    if (bw.disk_bytes_per_s > 0 && bw.memory_bytes_per_s > 0) {
        p.t_io = double(p.expert_bytes_per_token) * (1.0 - p.expected_hit_rate) / bw.disk_bytes_per_s;
        p.t_compute = double(p.active_dense + p.expert_bytes_per_token) / bw.memory_bytes_per_s;
        p.t_dense = double(p.active_dense) / bw.memory_bytes_per_s;
        p.predicted_tok_s = roofline_tok_s(p, bw, p.expected_hit_rate);
    }
    // Under uniform routing a ubatch of u tokens touches 1 − (1 − K/E)^u of each layer's experts.
    const double touched = 1.0 - std::pow(1.0 - double(p.experts_per_token) / double(c.n_experts), double(p.ubatch));
    double all_experts = 0;
    for (const LayerExperts& le : desc.experts) all_experts += double(le.expert_bytes()) * double(c.n_experts);
    p.prefill_bytes_read = uint64_t(all_experts * touched * (1.0 - p.expected_hit_rate));
    if (bw.disk_bytes_per_s > 0 && bw.matmul_flops_per_s > 0) {
        p.prefill_t_read = double(p.prefill_bytes_read) / bw.disk_bytes_per_s;
        p.prefill_t_compute = double(p.ubatch) * prefill_flops_per_token(desc, p.experts_per_token) / bw.matmul_flops_per_s;
        p.predicted_prefill_tok_s = double(p.ubatch) / std::max(p.prefill_t_read, p.prefill_t_compute);
    }
    return p;
}

double roofline_tok_s(const MemoryPlan& p, const Bandwidth& bw, double hit_rate) {
    if (bw.disk_bytes_per_s <= 0 || bw.memory_bytes_per_s <= 0) return 0;
    const double t_io = double(p.expert_bytes_per_token) * (1.0 - hit_rate) / bw.disk_bytes_per_s;
    const double t_dense = double(p.active_dense) / bw.memory_bytes_per_s;
    const double t_experts = double(p.expert_bytes_per_token) / bw.memory_bytes_per_s;
    return 1.0 / (t_dense + std::max(t_io, t_experts));
}

std::string MemoryPlan::describe() const {
    std::string s;
    s += fmt::format("memory budget:        {}\n", budget ? format_size(budget) : std::string("none (experts mapped)"));
    s += fmt::format("  dense weights:      {}\n", format_size(dense));
    if (sequences > 1)
        s += fmt::format("  KV / state:         {} ({} sequences of {} tokens, KV cache in {})\n", format_size(state),
                         sequences, context, kv_cache_type_name(cache_type));
    else
        s += fmt::format("  KV / state:         {} ({} tokens, KV cache in {})\n", format_size(state), context,
                         kv_cache_type_name(cache_type));
    if (checkpoints)
        s += fmt::format("  prompt cache:       {} (a checkpoint of each sequence's recurrent state)\n", format_size(checkpoints));
    s += fmt::format("  scratch:            {}\n", format_size(scratch));
    s += fmt::format("  overhead reserve:   {}\n", format_size(reserve));
    if (budget)
        s += fmt::format("  expert cache:       {} = {} slots of {} ({:.1f}% of {} experts)\n", format_size(expert_cache),
                         cache_slots, format_size(slot_bytes), 100.0 * double(cache_slots) / double(total_experts),
                         total_experts);
    s += fmt::format("dense read per token: {} (the dense part but an untied embedding table)\n", format_size(active_dense));
    s += fmt::format("experts per token:    {} ({} read per token if nothing is cached)\n", experts_per_token,
                     format_size(expert_bytes_per_token));
    s += fmt::format("expected hit rate:    {:.1f}% (uniform routing; frequency-aware caching does better)\n",
                     100.0 * expected_hit_rate);
    if (predicted_tok_s > 0)
        s += fmt::format("roofline:             t_io {:.1f} ms, t_compute {:.1f} ms per token ({:.1f} ms dense) -> "
                         "{:.2f} tok/s (reads overlap expert compute, not the dense part), {:.2f} tok/s (serial)\n",
                         t_io * 1e3, t_compute * 1e3, t_dense * 1e3, predicted_tok_s, 1.0 / (t_io + t_compute));
    s += fmt::format("prefill ubatch:       {} tokens per forward call{} ({} of experts read per ubatch)\n", ubatch,
                     budget ? " (the largest whose scratch fits in 1/8 of the budget; --ubatch overrides)" : "",
                     format_size(prefill_bytes_read));
    if (predicted_prefill_tok_s > 0)
        s += fmt::format("prefill roofline:     read {:.2f} s, compute {:.2f} s per ubatch -> {:.1f} tok/s (overlapped)\n",
                         prefill_t_read, prefill_t_compute, predicted_prefill_tok_s);
    return s;
}

}  // namespace sluice
