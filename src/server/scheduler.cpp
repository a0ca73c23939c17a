#include "server/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "util/error.h"

namespace sluice::server {

struct Scheduler::Slot {
    std::unique_ptr<ModelState> state;
    std::vector<float> logits;   // [vocab]: the last position's, after a step that sampled
    std::shared_ptr<RequestStream> stream;   // null: the slot is free
    GenerationRequest request;
    std::optional<Sampler> sampler;
    // Prompt and sampled tokens (for the repetition penalty); the state holds the first n_past,
    // and still does after the request ends (the prompt cache).
    std::vector<int32_t> history;
    size_t fed = 0;                 // prompt tokens run so far
    int64_t generated = 0;
    int32_t next = -1;              // the token the next step decodes
    uint64_t admitted = 0;          // admission order: prompts are run first come, first served
    uint64_t released = 0;          // when the slot last became free: the oldest cache is reused first
    // Models with recurrent layers: their states after the first `checkpoint_tokens` of history
    // (the end of the last prompt), one vector per layer (empty for attention layers).
    size_t checkpoint_tokens = 0;
    std::vector<std::vector<float>> checkpoint;

    bool active() const { return stream != nullptr; }
    bool prefilling() const { return fed < request.prompt.size(); }
};

Scheduler::Scheduler(Model& model, ExpertSource& experts, std::function<bool(int32_t)> is_stop,
                     const SchedulerOptions& options)
    : model_(model), experts_(experts), is_stop_(std::move(is_stop)), options_(options) {
    if (options_.parallel < 1) fail("--parallel must be at least 1, got {}", options_.parallel);
    if (options_.prompt_chunk < 1) fail("--ubatch must be at least 1, got {}", options_.prompt_chunk);
    if (options_.queue_limit < 0) fail("the queue limit must not be negative, got {}", options_.queue_limit);
    const size_t vocab = size_t(model_.config().vocab_size);
    for (int64_t l = 0; l < model_.config().n_layers; ++l) rewindable_ = rewindable_ && !model_.config().is_linear(l);
    for (int64_t i = 0; i < options_.parallel; ++i) {
        auto slot = std::make_unique<Slot>();
        slot->state = model_.new_state(options_.context);
        slot->logits.resize(vocab);
        slots_.push_back(std::move(slot));
    }
    thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { shutdown(); }

std::shared_ptr<RequestStream> Scheduler::submit(GenerationRequest request) {
    const int64_t n = int64_t(request.prompt.size());
    if (n < 1 || n >= options_.context)
        fail("the prompt has {} tokens; it must have 1 to {} (the context less one for the reply)", n, options_.context - 1);
    if (request.max_tokens < 1) fail("max_tokens must be at least 1, got {}", request.max_tokens);
    auto stream = std::make_shared<RequestStream>();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            stream->finish(FinishReason::Error, kShuttingDown);
            return stream;
        }
        if (int64_t(queue_.size()) >= options_.queue_limit) return nullptr;
        queue_.push_back({std::move(request), stream});
    }
    wake_.notify_one();
    return stream;
}

void Scheduler::shutdown() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (Pending& p : queue_) p.stream->finish(FinishReason::Error, kShuttingDown);
        queue_.clear();
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
    std::lock_guard lock(mutex_);
    SchedulerStats s = stats_;
    s.queued = int64_t(queue_.size());
    return s;
}

void Scheduler::run() {
    for (;;) {
        std::deque<Pending> arrivals;
        {
            std::unique_lock lock(mutex_);
            const auto busy = [&] {
                return std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->active(); });
            };
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || busy(); });
            if (stopping_) break;
            int64_t free = std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return !s->active(); });
            for (; free > 0 && !queue_.empty(); --free) {
                arrivals.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        admit(arrivals);
        step();
        const int64_t active = std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s->active(); });
        std::lock_guard lock(mutex_);
        stats_.active = active;
    }
    for (auto& slot : slots_)
        if (slot->active()) end(*slot, FinishReason::Error, kShuttingDown);
}

Scheduler::Reuse Scheduler::reusable(const Slot& slot, const std::vector<int32_t>& prompt) const {
    const size_t held = size_t(slot.state->n_past);
    if (held > slot.history.size()) return {};
    size_t common = 0;
    while (common < held && common < prompt.size() && slot.history[common] == prompt[common]) ++common;
    // At least the prompt's last token runs again: its logits give the first reply token.
    if (rewindable_) return {std::min(common, prompt.size() - 1), false};
    if (common == held && held < prompt.size()) return {held, false};
    const size_t c = slot.checkpoint_tokens;
    if (c > 0 && c <= common && c < prompt.size()) return {c, true};
    return {};
}

void Scheduler::admit(std::deque<Pending>& arrivals) {
    for (Pending& p : arrivals) {
        if (p.stream->cancelled()) {
            p.stream->finish(FinishReason::Cancelled);
            std::lock_guard lock(mutex_);
            ++stats_.cancelled;
            continue;
        }
        // The free slot with the longest reusable prefix; among equals the one free the longest.
        Slot* best = nullptr;
        Reuse reuse;
        for (auto& slot : slots_) {
            if (slot->active()) continue;
            const Reuse r = reusable(*slot, p.request.prompt);
            if (!best || r.tokens > reuse.tokens || (r.tokens == reuse.tokens && slot->released < best->released)) {
                best = slot.get();
                reuse = r;
            }
        }
        Slot& s = *best;   // run() took no more arrivals than free slots
        const size_t best_reuse = reuse.tokens;
        if (reuse.from_checkpoint)
            for (size_t l = 0; l < s.state->layers.size(); ++l) s.state->layers[l]->restore(s.checkpoint[l]);
        if (best_reuse > 0) {
            s.state->n_past = int64_t(best_reuse);
        } else {
            s.state->reset();
            s.checkpoint_tokens = 0;
        }
        s.stream = std::move(p.stream);
        s.request = std::move(p.request);
        s.sampler.emplace(s.request.sampler);
        s.history = s.request.prompt;
        s.fed = best_reuse;
        s.generated = 0;
        s.next = -1;
        s.admitted = admissions_++;
        std::lock_guard lock(mutex_);
        ++stats_.requests;
        stats_.prompt_tokens += int64_t(s.request.prompt.size());
        stats_.cached_prompt_tokens += int64_t(best_reuse);
    }
}

void Scheduler::end(Slot& slot, FinishReason reason, std::string error) {
    slot.stream->finish(reason, std::move(error));
    slot.stream.reset();
    slot.sampler.reset();
    slot.released = admissions_;
    if (reason == FinishReason::Cancelled) {
        std::lock_guard lock(mutex_);
        ++stats_.cancelled;
    }
}

void Scheduler::step() {
    for (auto& slot : slots_)
        if (slot->active() && slot->stream->cancelled()) end(*slot, FinishReason::Cancelled);

    // Every running sequence decodes its next token; prompts follow in admission order, each in
    // chunks of prompt_chunk tokens from its start (so a prompt is cut the same way whatever
    // else runs beside it), as many chunks as fit in prompt_chunk rows (at least one).
    std::vector<SequenceStep> steps;
    std::vector<Slot*> in_step, sampling;
    std::vector<Slot*> prompts;
    for (auto& slot : slots_) {
        if (!slot->active()) continue;
        if (slot->prefilling()) {
            prompts.push_back(slot.get());
        } else {
            steps.push_back({slot->state.get(), {&slot->next, 1}, slot->logits.data(), false});
            in_step.push_back(slot.get());
            sampling.push_back(slot.get());
        }
    }
    std::sort(prompts.begin(), prompts.end(), [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
    int64_t prompt_rows = 0;
    for (Slot* s : prompts) {
        const size_t n = std::min(size_t(options_.prompt_chunk), s->request.prompt.size() - s->fed);
        if (prompt_rows > 0 && prompt_rows + int64_t(n) > options_.prompt_chunk) break;
        prompt_rows += int64_t(n);
        steps.push_back({s->state.get(), {s->request.prompt.data() + s->fed, n}, s->logits.data(), false});
        in_step.push_back(s);
        s->fed += n;
        if (!s->prefilling()) sampling.push_back(s);
    }
    if (steps.empty()) return;

    const auto t0 = std::chrono::steady_clock::now();
    try {
        model_.forward_batch(steps);
    } catch (const Error& e) {
        // A failed expert read (or any error of the forward) ends the requests of this step; the
        // states are reset when their slots are reused, so the next requests start clean.
        for (Slot* s : in_step) {
            end(*s, FinishReason::Error, e.what());
            s->state->reset();   // what it holds is unknown: not for the prompt cache
            s->checkpoint_tokens = 0;
        }
        return;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    for (Slot* s : sampling) {
        if (rewindable_ || s->generated > 0) continue;
        // The prompt has just been run: its recurrent state is what a follow-up resumes from.
        s->checkpoint.resize(s->state->layers.size());
        for (size_t l = 0; l < s->state->layers.size(); ++l) s->checkpoint[l] = s->state->layers[l]->checkpoint();
        s->checkpoint_tokens = size_t(s->state->n_past);
    }
    std::vector<std::pair<Slot*, int32_t>> picks;
    for (Slot* s : sampling) {
        if (!std::all_of(s->logits.begin(), s->logits.end(), [](float v) { return std::isfinite(v); })) {
            end(*s, FinishReason::Error,
                fmt::format("the logits at position {} are not finite: the model file or a kernel is broken",
                            s->state->n_past - 1));
            continue;
        }
        picks.emplace_back(s, s->sampler->sample(s->logits, s->history));
    }
    {
        // Counted before the tokens go out, so a client that has its reply sees them counted.
        std::lock_guard lock(mutex_);
        ++stats_.steps;
        stats_.busy_seconds += seconds;
        stats_.generated_tokens += int64_t(picks.size());
        stats_.experts = experts_.stats();
    }
    for (auto [s, id] : picks) {
        ++s->generated;
        if (is_stop_(id)) {
            end(*s, FinishReason::Stop);
            continue;
        }
        s->stream->push_token(id);
        if (s->generated >= s->request.max_tokens || s->state->n_past >= s->state->capacity) {
            end(*s, FinishReason::Length);
            continue;
        }
        s->next = id;
        s->history.push_back(id);
    }
}

}  // namespace sluice::server
