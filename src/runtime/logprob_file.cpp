#include "runtime/logprob_file.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "util/error.h"

namespace sluice {

namespace {

static_assert(std::endian::native == std::endian::little, "the log-probability file is little-endian");

constexpr char kMagic[8] = {'S', 'L', 'U', 'I', 'C', 'E', 'L', 'P'};
constexpr uint32_t kVersion = 1;
constexpr float kRangeNats = 24.0f;   // kept below the most likely token
constexpr uint64_t kHeaderBytes = 8 + 4 * 4;
constexpr uint64_t kRowHeadBytes = 4 * 4;

template <typename T>
void put(std::ofstream& out, T v) {
    out.write(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
T get(std::ifstream& in) {
    T v{};
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    return v;
}

uint64_t row_bytes(int64_t vocab) { return kRowHeadBytes + 2 * uint64_t(vocab); }

}  // namespace

LogProbWriter::LogProbWriter(const std::string& path, const LogProbHeader& h)
    : path_(path), out_(path, std::ios::binary | std::ios::trunc), vocab_(h.vocab), rows_left_(h.rows()),
      q_(size_t(h.vocab)) {
    if (!out_) fail("{}: cannot create the file", path);
    out_.write(kMagic, sizeof kMagic);
    put<uint32_t>(out_, kVersion);
    put<uint32_t>(out_, uint32_t(h.vocab));
    put<uint32_t>(out_, uint32_t(h.ctx));
    put<uint32_t>(out_, uint32_t(h.chunks));
    out_.write(reinterpret_cast<const char*>(h.tokens.data()), std::streamsize(h.tokens.size() * sizeof(int32_t)));
}

void LogProbWriter::write(std::span<const float> logits, double lse, int32_t target) {
    if (int64_t(logits.size()) != vocab_ || rows_left_ == 0) fail("{}: more rows or other widths than its header", path_);
    const auto [lo_it, hi_it] = std::minmax_element(logits.begin(), logits.end());
    const float top = float(double(*hi_it) - lse);
    const float lo = std::max(float(double(*lo_it) - lse), top - kRangeNats);
    const float step = (top - lo) / 65535.0f;
    for (size_t i = 0; i < logits.size(); ++i) {
        const float lp = float(double(logits[i]) - lse);
        q_[i] = step > 0 && lp > lo ? uint16_t(std::lround(std::min(65535.0f, (lp - lo) / step))) : 0;
    }
    put<float>(out_, float(lse - double(logits[size_t(target)])));
    put<int32_t>(out_, int32_t(hi_it - logits.begin()));
    put<float>(out_, lo);
    put<float>(out_, step);
    out_.write(reinterpret_cast<const char*>(q_.data()), std::streamsize(q_.size() * 2));
    --rows_left_;
}

void LogProbWriter::finish() {
    if (rows_left_ != 0) fail("{}: {} scored rows missing", path_, rows_left_);
    out_.flush();
    if (!out_) fail("{}: write failed (disk full?)", path_);
}

LogProbReader::LogProbReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) fail("{}: cannot open the file", path);
    char magic[sizeof kMagic] = {};
    in_.read(magic, sizeof magic);
    if (!in_ || std::memcmp(magic, kMagic, sizeof magic) != 0)
        fail("{}: not a sluice log-probability file (written by perplexity --save-logits)", path);
    const uint32_t version = get<uint32_t>(in_);
    if (version != kVersion) fail("{}: version {} of the log-probability file, expected {}", path, version, kVersion);
    header_.vocab = get<uint32_t>(in_);
    header_.ctx = get<uint32_t>(in_);
    header_.chunks = get<uint32_t>(in_);
    if (!in_ || header_.vocab < 2 || header_.ctx < 8 || header_.chunks < 1)
        fail("{}: header has vocab {}, ctx {}, chunks {}; expected vocab >= 2, ctx >= 8, chunks >= 1", path,
             header_.vocab, header_.ctx, header_.chunks);
    const uint64_t expected = kHeaderBytes + 4 * uint64_t(header_.ctx * header_.chunks) + uint64_t(header_.rows()) * row_bytes(header_.vocab);
    const uint64_t size = std::filesystem::file_size(path);
    if (size != expected)
        fail("{}: {} bytes, but its header (vocab {}, ctx {}, {} chunks) needs {}", path, size, header_.vocab,
             header_.ctx, header_.chunks, expected);
    header_.tokens.resize(size_t(header_.ctx * header_.chunks));
    in_.read(reinterpret_cast<char*>(header_.tokens.data()), std::streamsize(header_.tokens.size() * sizeof(int32_t)));
    rows_left_ = header_.rows();
    q_.resize(size_t(header_.vocab));
    row_.logp.resize(size_t(header_.vocab));
}

void LogProbReader::check_matches(int64_t vocab, int64_t ctx, std::span<const int32_t> tokens) const {
    const LogProbHeader& h = header_;
    if (vocab != h.vocab) fail("{}: base run has a vocabulary of {}, this model {}", path_, h.vocab, vocab);
    if (ctx != h.ctx) fail("{}: base run used --ctx {}, this run {}", path_, h.ctx, ctx);
    if (int64_t(tokens.size()) != h.ctx * h.chunks)
        fail("{}: base run scored {} chunks, this run {} (same text and --chunks needed)", path_, h.chunks,
             int64_t(tokens.size()) / ctx);
    const auto diff = std::mismatch(tokens.begin(), tokens.end(), h.tokens.begin());
    if (diff.first != tokens.end())
        fail("{}: base run was over other text (token {} is {} there, {} here)", path_, diff.first - tokens.begin(),
             *diff.second, *diff.first);
}

const BaseRow& LogProbReader::next() {
    if (rows_left_ == 0) fail("{}: no more scored rows", path_);
    row_.nll = get<float>(in_);
    row_.top1 = get<int32_t>(in_);
    const float lo = get<float>(in_), step = get<float>(in_);
    in_.read(reinterpret_cast<char*>(q_.data()), std::streamsize(q_.size() * 2));
    if (!in_) fail("{}: read failed", path_);
    // Renormalised, so the rounding of the stored values does not show up as divergence.
    double sum = 0;
    for (size_t i = 0; i < q_.size(); ++i) {
        row_.logp[i] = double(lo) + double(step) * double(q_[i]);
        sum += std::exp(row_.logp[i]);
    }
    const double shift = std::log(sum);
    for (double& v : row_.logp) v -= shift;
    --rows_left_;
    return row_;
}

}  // namespace sluice
