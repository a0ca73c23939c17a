// The scored log-probabilities of a perplexity run (`sluice perplexity --save-logits`), which a
// later run compares itself against (`--kl-base`). Little-endian:
//   "SLUICELP", u32 version (1), u32 vocab, u32 ctx, u32 chunks, i32 tokens[chunks · ctx]
//   then for each scored position in order (chunks · (ctx − ctx/2 − 1) rows):
//   f32 nll of the actual next token, i32 the most likely id, f32 lo, f32 step, u16 q[vocab]
// with log p(i) ≈ lo + step · q[i]. Log-probabilities are kept over the 24 nats below the most
// likely token (lo is the larger of the row's minimum and top − 24; below it q = 0, p < 4e-11):
// a step of at most 24/65535 nats, half the size of float32 rows. The tokens identify the text
// and ctx, so a run over other text or another ctx is refused.
#pragma once
#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace sluice {

struct LogProbHeader {
    int64_t vocab = 0, ctx = 0, chunks = 0;
    std::vector<int32_t> tokens;   // the chunks' tokens, chunks · ctx of them
    int64_t rows() const { return chunks * (ctx - ctx / 2 - 1); }
};

class LogProbWriter {
public:
    // Throws naming the file when it cannot be created.
    LogProbWriter(const std::string& path, const LogProbHeader& header);
    // One scored row: the logits, their log Σ exp, and the token that came next.
    void write(std::span<const float> logits, double lse, int32_t target);
    // Flushes and checks that every row was written; throws naming the file otherwise.
    void finish();

private:
    std::string path_;
    std::ofstream out_;
    int64_t vocab_, rows_left_;
    std::vector<uint16_t> q_;
};

struct BaseRow {
    float nll = 0;
    int32_t top1 = 0;
    std::vector<double> logp;   // normalised log-probabilities [vocab] (in double, so they sum to 1)
};

class LogProbReader {
public:
    // Reads and checks the header and the file's size; throws naming the file.
    explicit LogProbReader(const std::string& path);
    const LogProbHeader& header() const { return header_; }
    // Throws naming the file and what differs when this run's vocabulary, ctx or tokens (the
    // text, or the number of chunks) are not the base run's.
    void check_matches(int64_t vocab, int64_t ctx, std::span<const int32_t> tokens) const;
    // The next row, dequantised.
    const BaseRow& next();

private:
    std::string path_;
    std::ifstream in_;
    LogProbHeader header_;
    int64_t rows_left_ = 0;
    std::vector<uint16_t> q_;
    BaseRow row_;
};

}  // namespace sluice
