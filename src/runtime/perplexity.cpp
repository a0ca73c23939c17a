#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/error.h"

namespace sluice {

PerplexityPlan plan_perplexity(int64_t n_tokens, int64_t ctx, int64_t max_chunks) {
    // Fewer than 8 leaves a scored half of three tokens or fewer: no figure to speak of.
    if (ctx < 8) fail("--ctx {}: perplexity needs a context of at least 8 tokens", ctx);
    if (max_chunks < 0) fail("--chunks {}: must not be negative", max_chunks);
    if (n_tokens < 2 * ctx)
        fail("the text has {} tokens; perplexity with --ctx {} needs at least {} (two chunks)", n_tokens, ctx, 2 * ctx);
    PerplexityPlan p;
    p.ctx = ctx;
    p.chunks = n_tokens / ctx;
    if (max_chunks > 0) p.chunks = std::min(p.chunks, max_chunks);
    return p;
}

void NllSum::add(double nll) {
    sum += nll;
    sum2 += nll * nll;
    ++count;
}

double NllSum::ppl() const { return count ? std::exp(sum / double(count)) : 0.0; }

double NllSum::ppl_error() const {
    if (count < 2) return 0;
    const double mean = sum / double(count);
    const double var = sum2 / double(count) - mean * mean;
    return var > 0 ? std::sqrt(var / double(count - 1)) * ppl() : 0.0;
}

double KlSum::mean_error() const {
    if (count < 2) return 0;
    const double m = mean(), var = sum2 / double(count) - m * m;
    return var > 0 ? std::sqrt(var / double(count - 1)) : 0.0;
}

double log_sum_exp(std::span<const float> logits) {
    const float mx = *std::max_element(logits.begin(), logits.end());
    double s = 0;
    for (float v : logits) s += std::exp(double(v) - double(mx));
    return double(mx) + std::log(s);
}

double kl_divergence(std::span<const double> base_logp, std::span<const float> logits, double lse) {
    double kl = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        const double lb = base_logp[i];
        kl += std::exp(lb) * (lb - (double(logits[i]) - lse));
    }
    return kl;
}

PerplexityResult score_perplexity(Session& session, std::span<const int32_t> tokens, const PerplexityPlan& plan,
                                  const PerplexityHooks& hooks) {
    const int64_t V = session.vocab_size();
    PerplexityResult result;
    if (hooks.base) {
        hooks.base->check_matches(V, plan.ctx, tokens.first(size_t(plan.tokens())));
        result.kl.emplace();
    }
    const int64_t first = plan.first_scored(), last = plan.ctx - 2;   // scored logits rows
    for (int64_t c = 0; c < plan.chunks; ++c) {
        const auto text = tokens.subspan(size_t(c * plan.ctx), size_t(plan.ctx));
        std::vector<int32_t> chunk(text.begin(), text.end());
        if (plan.bos >= 0) chunk[0] = plan.bos;   // never scored: targets start at ctx/2 + 1
        session.reset();
        session.eval_batches(chunk, [&](int64_t row0, std::span<const float> logits) {
            const int64_t rows = int64_t(logits.size()) / V;
            for (int64_t r = std::max(row0, first); r <= std::min(row0 + rows - 1, last); ++r) {
                const auto row = logits.subspan(size_t((r - row0) * V), size_t(V));
                const int32_t target = chunk[size_t(r + 1)];
                const double lse = log_sum_exp(row);
                result.nll.add(lse - double(row[size_t(target)]));
                if (hooks.save) hooks.save->write(row, lse, target);
                if (hooks.base) {
                    const BaseRow& b = hooks.base->next();
                    const double kl = kl_divergence(b.logp, row, lse);
                    KlSum& k = *result.kl;
                    k.sum += kl;
                    k.sum2 += kl * kl;
                    ++k.count;
                    k.same_top += int32_t(std::max_element(row.begin(), row.end()) - row.begin()) == b.top1;
                    k.base.add(b.nll);
                }
            }
        });
        if (hooks.on_chunk) hooks.on_chunk(c, result);
    }
    if (hooks.save) hooks.save->finish();
    return result;
}

}  // namespace sluice
