// Continuous batching (DESIGN.md §10): one thread owns the model and runs one forward at a time
// over up to `parallel` active sequences — each running sequence's next token, plus chunks of new
// prompts — so the MoE reads each expert once per step for every sequence routed to it. Requests
// beyond `parallel` wait in a bounded FIFO queue; each active one owns a state slot (KV cache /
// recurrent state) allocated once at start.
//
// Prompt cache: a slot keeps its state after its request ends, with the tokens that state holds.
// A new request takes the free slot that shares the longest prefix with its prompt and runs only
// the rest: a conversation's next turn, which re-sends the earlier ones, resumes where the last
// reply ended. Attention layers can go back to any position (later ones are overwritten), so a
// model with only those reuses any common prefix; a recurrent (Gated DeltaNet) state cannot be
// rewound, so for a model with such layers a slot also keeps a checkpoint of them at the end of
// its last prompt: a prompt that extends everything the state holds resumes from it, and one
// that extends only the last prompt (the reply was re-rendered differently, say) resumes from
// the checkpoint.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "model/expert_source.h"
#include "model/model.h"
#include "runtime/sampler.h"
#include "server/request_stream.h"

namespace sluice::server {

struct SchedulerOptions {
    int64_t parallel = 1;        // sequences decoded together, each with a state slot
    int64_t context = 4096;      // tokens a slot holds (prompt and reply)
    int64_t prompt_chunk = 256;  // most prompt tokens a step runs (the engine's prefill batch, --ubatch)
    int64_t queue_limit = 64;    // requests waiting for a slot; one more is refused
};

struct GenerationRequest {
    std::vector<int32_t> prompt;   // 1 to context - 1 tokens
    int64_t max_tokens = 16;       // >= 1
    SamplerOptions sampler;
};

// Counters since start, for /metrics.
struct SchedulerStats {
    int64_t requests = 0;           // admitted to a slot
    int64_t cancelled = 0;          // ended by their reader: the client went away or a stop string matched
    int64_t prompt_tokens = 0, generated_tokens = 0;
    int64_t cached_prompt_tokens = 0;   // prompt tokens not run again, their state reused
    int64_t steps = 0;
    double busy_seconds = 0;        // time spent in forward steps
    int64_t queued = 0, active = 0;
    ExpertSourceStats experts;      // of the model's expert source, after the last step
};

class Scheduler {
public:
    // `is_stop`: ids that end a reply (the tokenizer's end-of-turn / eos). The model, its expert
    // source and the predicate must outlive the scheduler.
    Scheduler(Model& model, ExpertSource& experts, std::function<bool(int32_t)> is_stop, const SchedulerOptions& options);
    ~Scheduler();  // shutdown()
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Queues a request; null when the queue is full. Throws on a prompt outside 1..context-1
    // tokens or max_tokens < 1 (the HTTP layer checks first, with its own message).
    std::shared_ptr<RequestStream> submit(GenerationRequest request);

    // Ends every queued and active request with FinishReason::Error ("the server is shutting
    // down") and stops the thread; later submissions are refused the same way.
    void shutdown();

    SchedulerStats stats() const;
    const SchedulerOptions& options() const { return options_; }

private:
    struct Pending {
        GenerationRequest request;
        std::shared_ptr<RequestStream> stream;
    };
    struct Slot;

    void run();
    void admit(std::deque<Pending>& arrivals);
    void step();
    void end(Slot& slot, FinishReason reason, std::string error = {});
    // How much of `slot`'s state a prompt can keep: `tokens` (0: none), from the checkpoint at
    // the end of the slot's last prompt when `from_checkpoint`.
    struct Reuse {
        size_t tokens = 0;
        bool from_checkpoint = false;
    };
    Reuse reusable(const Slot& slot, const std::vector<int32_t>& prompt) const;

    Model& model_;
    ExpertSource& experts_;
    std::function<bool(int32_t)> is_stop_;
    SchedulerOptions options_;
    std::vector<std::unique_ptr<Slot>> slots_;   // touched by the scheduler thread only
    uint64_t admissions_ = 0;                    // likewise
    bool rewindable_ = true;                     // no recurrent layers: states can go back

    mutable std::mutex mutex_;   // guards queue_, stopping_, stats_
    std::condition_variable wake_;
    std::deque<Pending> queue_;
    bool stopping_ = false;
    SchedulerStats stats_;
    std::thread thread_;
};

}  // namespace sluice::server
