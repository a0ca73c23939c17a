// Perplexity as llama.cpp's perplexity tool computes it (tools/perplexity/perplexity.cpp), so
// figures compare: the text is tokenized whole and cut into chunks of ctx tokens (a tail that
// does not fill a chunk is dropped); each chunk is evaluated from an empty state, and only its
// second half is scored — the logits at positions ctx/2 .. ctx−2 predict the token after them,
// so every scored token has at least ctx/2 tokens of context. When the tokenizer adds BOS
// (DeepSeek-V3, Kimi) the text's tokens start with it and, as llama.cpp does, every chunk's first
// token is replaced by BOS; Qwen's add none, so its chunks are the text's tokens as they are.
// Optionally each scored row is saved (LogProbWriter) or compared
// with a saved base run (LogProbReader): KL divergence and top-1 agreement.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "runtime/logprob_file.h"
#include "runtime/session.h"

namespace sluice {

struct PerplexityPlan {
    int64_t ctx = 0, chunks = 0;
    int32_t bos = -1;   // put in place of each chunk's first token; -1: none
    int64_t first_scored() const { return ctx / 2; }              // first scored logits row
    int64_t scored_per_chunk() const { return ctx - ctx / 2 - 1; }
    int64_t tokens() const { return ctx * chunks; }                 // tokens evaluated
};

// Chunks of ctx tokens over n_tokens, at most max_chunks of them (0: all). Throws when ctx < 8
// or the text has fewer than 2·ctx tokens (llama.cpp's requirement).
PerplexityPlan plan_perplexity(int64_t n_tokens, int64_t ctx, int64_t max_chunks);

// Negative log-likelihoods of the scored tokens: their exp-mean and llama.cpp's error estimate.
struct NllSum {
    double sum = 0, sum2 = 0;
    int64_t count = 0;
    void add(double nll);
    double ppl() const;
    double ppl_error() const;   // ppl · standard error of the mean NLL; 0 with fewer than 2 tokens
};

// KL divergence (base ‖ this run) and top-1 agreement over the scored tokens.
struct KlSum {
    double sum = 0, sum2 = 0;
    int64_t count = 0, same_top = 0;
    NllSum base;   // the base run's NLL, for its PPL
    double mean() const { return count ? sum / double(count) : 0.0; }
    double mean_error() const;  // standard error of the mean
    double top1_agreement() const { return count ? double(same_top) / double(count) : 0.0; }
};

// log Σ exp(logits), accumulated in double.
double log_sum_exp(std::span<const float> logits);
// Σ p_base · (log p_base − log p): base_logp are normalised log-probabilities, this run's
// log-probabilities are logits − lse.
double kl_divergence(std::span<const double> base_logp, std::span<const float> logits, double lse);

struct PerplexityResult {
    NllSum nll;
    std::optional<KlSum> kl;   // with a base run
};

struct PerplexityHooks {
    LogProbWriter* save = nullptr;          // writes every scored row
    LogProbReader* base = nullptr;          // compares every scored row with the base run's
    std::function<void(int64_t chunk, const PerplexityResult& so_far)> on_chunk;  // after each chunk
};

// Scores tokens[0, plan.tokens()) in plan's chunks through session (reset before each chunk).
PerplexityResult score_perplexity(Session& session, std::span<const int32_t> tokens, const PerplexityPlan& plan,
                                  const PerplexityHooks& hooks = {});

}  // namespace sluice
