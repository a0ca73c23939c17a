// The memory plan and cost model (DESIGN.md §2, §5): how a --mem budget splits into resident
// dense weights, per-sequence state, scratch and the expert cache, and the decode speed the
// roofline predicts from measured disk and memory bandwidth.
#pragma once
#include <cstdint>
#include <string>

#include "format/model_desc.h"
#include "model/kv_cache_type.h"

namespace sluice {

struct Bandwidth {
    double disk_bytes_per_s = 0;     // large O_DIRECT reads of the model's file system
    double memory_bytes_per_s = 0;   // streaming reads from RAM, all threads
    double matmul_flops_per_s = 0;   // prefill products (an expert's Q4_K weights × 32 tokens), all threads
};

struct MemoryPlan {
    uint64_t budget = 0;             // 0: unbudgeted
    uint64_t dense = 0;              // resident weights
    uint64_t state = 0;              // KV caches and recurrent states for `context` tokens, per sequence
    int64_t context = 0;
    int64_t sequences = 1;           // sequences decoded together (serve --parallel), each with its state
    uint64_t checkpoints = 0;        // the server's prompt cache: each sequence's recurrent state once more
    KvCacheType cache_type = KvCacheType::F16;   // the KV caches' format
    uint64_t scratch = 0;            // activations and buffers
    uint64_t reserve = 0;            // process overhead (code, allocator, I/O queues)
    uint64_t expert_cache = 0;       // what is left for cached experts
    uint64_t expert_bytes = 0;       // B_e: one expert's gate + up + down (largest layer)
    uint64_t slot_bytes = 0;         // one cache slot: B_e plus the padding of aligned O_DIRECT reads
    int64_t cache_slots = 0;
    int64_t total_experts = 0;       // L · E
    int64_t experts_per_token = 0;   // K in use
    uint64_t active_dense = 0;       // dense bytes read per token (all but the embedding table)
    uint64_t expert_bytes_per_token = 0;   // L · K · B_e

    double expected_hit_rate = 0;    // uniform-routing estimate: slots / (L · E)
    // Seconds per token: reading the missed experts, and the compute, memory-bound: the dense
    // part (t_dense) and the experts. A layer's misses are read once its router has chosen, so
    // the reads overlap that layer's expert compute but not the dense part (attention, routers,
    // the output head): predicted_tok_s = 1 / (t_dense + max(t_io, t_compute − t_dense)).
    double predicted_tok_s = 0;
    double t_io = 0, t_compute = 0, t_dense = 0;

    // Prefill: prompt tokens per forward call (given, or chosen under a budget: see
    // plan_memory), and per such ubatch the expected reads (the experts its tokens touch under
    // uniform routing, less the cached share) and compute; predicted tok/s = ubatch / max of both.
    int64_t ubatch = 0;
    uint64_t prefill_bytes_read = 0;   // per ubatch
    double prefill_t_read = 0, prefill_t_compute = 0, predicted_prefill_tok_s = 0;

    std::string describe() const;    // multi-line, for `sluice inspect --mem`
};

// Plans for `budget` bytes (0: unbudgeted, every expert counted as cached) and throws naming
// the bytes needed when the budget cannot hold the dense part, the state and one layer's K
// experts.
// The KV caches of `context` tokens are counted in `cache_type` (recurrent states in float32).
// Scratch is sized for prompts run `ubatch` tokens per forward call; 0 lets the planner choose:
// unbudgeted kDefaultUbatch, under a budget the largest power of two from kMinUbatch up to
// kMaxUbatch (and the context) whose scratch takes at most kScratchShare of the budget and leaves
// room for one layer's K experts — a larger ubatch reads each expert once for more tokens, and
// the scratch it needs comes out of the expert cache. `sequences` states are reserved (the
// server's --parallel), and scratch for their decode rows beside a prompt chunk; `prompt_cache`:
// a checkpoint of each sequence's recurrent layers too (server/scheduler.h); `all_logits`: logits
// for every prompt row (eval, perplexity), else one row a sequence.
MemoryPlan plan_memory(const ModelDesc& desc, uint64_t budget, int64_t context, KvCacheType cache_type,
                       int64_t experts_per_token, const Bandwidth& bw, int64_t ubatch = 0, int64_t sequences = 1,
                       bool prompt_cache = false, bool all_logits = false);
inline constexpr int64_t kDefaultUbatch = 256, kMinUbatch = 64, kMaxUbatch = 4096;
inline constexpr double kScratchShare = 1.0 / 8;

// The prediction's tokens/s (as predicted_tok_s) at a given cache hit rate, e.g. the one a run
// measured.
double roofline_tok_s(const MemoryPlan& plan, const Bandwidth& bw, double hit_rate);

// Bandwidths measured once and kept in ~/.cache/sluice/bandwidth.json (per device of the model
// file); `remeasure` forces a new measurement. The disk is read as the engine reads experts
// (the store's reader: io_uring, O_DIRECT, its queue depth) in requests of `read_bytes`. It is
// timed only on a model file of at least 256 MiB: a smaller one keeps the device's earlier
// figure, or 0 (unknown; no roofline).
Bandwidth measured_bandwidth(const std::string& model_path, bool remeasure, uint64_t read_bytes);

// The size of the engine's expert reads: the largest projection of one expert (gate, up and down
// are read separately); 1 MiB for a model without routed experts.
uint64_t expert_read_bytes(const ModelDesc& desc);

}  // namespace sluice
