// Tokenising 1 MB of mixed text with the real Qwen3 tokenizer (target: under 0.5 s on one core).
// "Cold" builds a fresh tokenizer before each iteration (outside the timing), so no piece is in
// the BPE cache yet; "Warm" encodes the same text again with the cache filled.
//
// Reads tokenizer/qwen3 from the fixtures unpacked into the build tree (cmake/fixtures.cmake).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using namespace sluice;

const TokenizerSpec& qwen3_spec() {
    static const TokenizerSpec spec = [] {
        return read_hf_tokenizer((fs::path(SLUICE_FIXTURES_DIR) / "tokenizer" / "qwen3").string());
    }();
    return spec;
}

void append_utf8(std::string& s, char32_t cp) {
    if (cp < 0x80) {
        s += char(cp);
    } else if (cp < 0x800) {
        s += char(0xC0 | (cp >> 6));
        s += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += char(0xE0 | (cp >> 12));
        s += char(0x80 | ((cp >> 6) & 0x3F));
        s += char(0x80 | (cp & 0x3F));
    } else {
        s += char(0xF0 | (cp >> 18));
        s += char(0x80 | ((cp >> 12) & 0x3F));
        s += char(0x80 | ((cp >> 6) & 0x3F));
        s += char(0x80 | (cp & 0x3F));
    }
}

// About `bytes` of text mixing English-like prose (words glued from vocabulary entries, so most
// are new to the cache), code, Chinese, Cyrillic, numbers, emoji and chat markup.
std::string mixed_text(size_t bytes) {
    std::vector<std::string> pool;  // "Ġ" + lowercase letters, as plain text
    for (const std::string& t : qwen3_spec().tokens)
        if (t.size() > 3 && t.rfind("\xC4\xA0", 0) == 0 &&
            t.find_first_not_of("abcdefghijklmnopqrstuvwxyz", 2) == std::string::npos)
            pool.push_back(t.substr(2));
    std::mt19937 rng(7);
    auto pick = [&](size_t n) { return size_t(rng() % n); };
    auto word = [&] {
        std::string w = pool[pick(pool.size())];
        if (pick(3) == 0) w += pool[pick(pool.size())];
        return w;
    };
    std::string s;
    s.reserve(bytes + 256);
    while (s.size() < bytes) {
        const size_t kind = pick(100);
        if (kind < 55) {
            for (size_t i = 0, n = 8 + pick(12); i < n; ++i) {
                if (i) s += ' ';
                s += word();
                if (pick(8) == 0) s += ',';
            }
            s += pick(4) == 0 ? ".\n" : ". ";
        } else if (kind < 70) {
            for (const std::string& part : {std::string("    for (int "), word(), std::string(" = 0; i < n_"), word(),
                                             std::string("; ++i) { sum += a[i] * "), std::to_string(pick(1000)),
                                             std::string("; }\n")})
                s += part;
        } else if (kind < 80) {
            for (size_t i = 0, n = 10 + pick(30); i < n; ++i) append_utf8(s, char32_t(0x4E00 + pick(0x51A6)));
            s += "\xE3\x80\x82";  // 。
        } else if (kind < 87) {
            for (size_t i = 0, n = 3 + pick(8); i < n; ++i) {
                for (size_t j = 0, m = 2 + pick(8); j < m; ++j) append_utf8(s, char32_t(0x430 + pick(32)));
                s += ' ';
            }
        } else if (kind < 92) {
            for (const std::string& part : {std::to_string(rng()), std::string("."), std::to_string(pick(100)), std::string(" "),
                                             std::to_string(1900 + pick(200)), std::string("-0"), std::to_string(1 + pick(9)),
                                             std::string(" ")})
                s += part;
        } else if (kind < 95) {
            for (size_t i = 0, n = 1 + pick(4); i < n; ++i) append_utf8(s, char32_t(0x1F600 + pick(0x50)));
            s += pick(2) ? " " : "\xE2\x80\x8D";  // ZWJ
        } else {
            s += pick(2) ? "\n\n<|im_start|>user\n" : "<|im_end|>\n\t  \n";
        }
    }
    return s;
}

const std::string& text() {
    static const std::string t = mixed_text(1 << 20);
    return t;
}

void BM_Encode1MBCold(benchmark::State& state) {
    size_t tokens = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto tok = std::make_unique<Tokenizer>(qwen3_spec());
        state.ResumeTiming();
        tokens = tok->encode(text()).size();
        benchmark::DoNotOptimize(tokens);
        state.PauseTiming();
        tok.reset();
        state.ResumeTiming();
    }
    state.SetBytesProcessed(int64_t(state.iterations() * text().size()));
    state.counters["tokens"] = double(tokens);
}
BENCHMARK(BM_Encode1MBCold)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_Encode1MBWarm(benchmark::State& state) {
    Tokenizer tok(qwen3_spec());
    tok.encode(text());
    for (auto _ : state) benchmark::DoNotOptimize(tok.encode(text()).size());
    state.SetBytesProcessed(int64_t(state.iterations() * text().size()));
}
BENCHMARK(BM_Encode1MBWarm)->Unit(benchmark::kMillisecond);

// The cold encode under each family's pre-tokeniser, Qwen3's vocabulary and NFC kept, so only
// the split differs: DeepSeek-V3's three regexes, o200k's case classes, Kimi-K2's lookaheads.
const char* const kPreTokenisers[] = {"qwen2", "glm4", "deepseek-v3", "gpt-4o", "kimi-k2"};

void BM_Encode1MBColdByPreTokeniser(benchmark::State& state) {
    const char* name = kPreTokenisers[state.range(0)];
    TokenizerSpec spec = qwen3_spec();
    spec.split_patterns = pretokenizer_preset(name)->patterns;
    state.SetLabel(name);
    for (auto _ : state) {
        state.PauseTiming();
        auto tok = std::make_unique<Tokenizer>(spec);
        state.ResumeTiming();
        benchmark::DoNotOptimize(tok->encode(text()).size());
        state.PauseTiming();
        tok.reset();
        state.ResumeTiming();
    }
    state.SetBytesProcessed(int64_t(state.iterations() * text().size()));
}
BENCHMARK(BM_Encode1MBColdByPreTokeniser)->DenseRange(0, 4)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
