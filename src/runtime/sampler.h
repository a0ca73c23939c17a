// Picks the next token from logits: greedy at temperature 0, otherwise temperature, top-k,
// top-p and min-p filtering with an optional repetition penalty, from a seeded generator.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace sluice {

struct SamplerOptions {
    float temperature = 0.0f;     // 0: greedy
    int64_t top_k = 40;           // 0: off
    float top_p = 0.95f;          // 1: off
    float min_p = 0.05f;          // 0: off
    float repeat_penalty = 1.0f;  // 1: off
    int64_t repeat_last_n = 64;
    uint64_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(const SamplerOptions& options) : opt_(options), rng_(options.seed) {}
    // `history` is the tokens so far (for the repetition penalty).
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

private:
    SamplerOptions opt_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace sluice
