#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <array>
#include <utility>

#include "util/error.h"

namespace sluice {

namespace {

// Qwen2 / Qwen3 / Qwen3-MoE / Qwen3-Next (model-spec §D.1 step 3).
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen3.5: combining marks join the letter class.
constexpr const char* kQwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// GLM-4.5 / 4.6 / 4.7 (llama.cpp "glm4"): Qwen2's with numbers in runs of up to three digits.
constexpr const char* kGlm4 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek-V3 / R1 (llama.cpp "deepseek-v3"): three Splits, as its tokenizer.json writes them
// (CR and LF as the characters themselves): digit runs of up to three, then runs of CJK
// ideographs and kana, then words, punctuation and spaces.
constexpr const char* kDeepSeekV3Digits = R"(\p{N}{1,3})";
constexpr const char* kDeepSeekV3Cjk = "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+";
constexpr const char* kDeepSeekV3Words =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|"
    "\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
// gpt-oss (llama.cpp "gpt-4o", OpenAI's o200k): a word is an optional run of upper-case letters
// then lower-case ones (or the reverse), so "HTTPServer" stays whole and "camelCase" splits.
constexpr const char* kGpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|)"
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|)"
    R"(\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Kimi-K2 (llama.cpp "kimi-k2"; tiktoken's pattern in Kimi's tokenization_kimi.py): runs of Han
// first, then o200k's words with Han taken out of the letter classes. tiktoken writes the
// classes as intersections ([...&&[^\p{Han}]]), which PCRE2 lacks: a negative lookahead does
// the same. Its \p{Han} is the Script property (Rust's regex); PCRE2's bare \p{Han} is the
// wider Script_Extensions (Chinese punctuation such as 。 and 「 included), hence sc=Han.
constexpr const char* kKimiK2 =
    R"(\p{sc=Han}+|)"
    R"([^\r\n\p{L}\p{N}]?(?:(?!\p{sc=Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])*(?:(?!\p{sc=Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])+)"
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?|)"
    R"([^\r\n\p{L}\p{N}]?(?:(?!\p{sc=Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])+(?:(?!\p{sc=Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])*)"
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?|)"
    R"(\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// By llama.cpp's name. Only Qwen's Hugging Face tokenizers NFC-normalise; the others have no
// normaliser (DeepSeek-V3's is an empty Sequence).
const std::array<std::pair<const char*, PreTokenizerPreset>, 6>& presets() {
    static const std::array<std::pair<const char*, PreTokenizerPreset>, 6> table{{
        {"qwen2", {{kQwen2}, true}},
        {"qwen35", {{kQwen35}, true}},
        {"glm4", {{kGlm4}, false}},
        {"deepseek-v3", {{kDeepSeekV3Digits, kDeepSeekV3Cjk, kDeepSeekV3Words}, false}},
        {"gpt-4o", {{kGpt4o}, false}},
        {"kimi-k2", {{kKimiK2}, false}},
    }};
    return table;
}

std::string pcre2_message(int code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(code, buf, sizeof buf);
    return reinterpret_cast<const char*>(buf);
}

}  // namespace

const PreTokenizerPreset* pretokenizer_preset(std::string_view name) {
    for (const auto& [known, preset] : presets())
        if (name == known) return &preset;
    return nullptr;
}

std::string known_pretokenizers() {
    std::string names;
    for (const auto& [known, preset] : presets()) names += (names.empty() ? "" : ", ") + std::string(known);
    return names;
}

struct PreTokenizer::Compiled {
    pcre2_code* code = nullptr;
    bool jit = false;
    Compiled() = default;
    Compiled(Compiled&& o) noexcept : code(std::exchange(o.code, nullptr)), jit(o.jit) {}
    Compiled& operator=(Compiled&& o) noexcept {
        std::swap(code, o.code);
        jit = o.jit;
        return *this;
    }
    ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns, const std::string& source) {
    if (patterns.empty()) fail("{}: the pre-tokeniser has no split regex", source);
    for (const std::string& pattern : patterns) {
        Compiled& step = steps_.emplace_back();
        int err = 0;
        PCRE2_SIZE offset = 0;
        step.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                  &err, &offset, nullptr);
        if (!step.code)
            fail("{}: the pre-tokeniser regex \"{}\" does not compile at offset {}: {}", source, pattern, offset,
                 pcre2_message(err));
        // JIT is an optimisation: builds of PCRE2 without it still match, only slower.
        step.jit = pcre2_jit_compile(step.code, PCRE2_JIT_COMPLETE) == 0;
    }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

namespace {

struct MatchData {
    pcre2_match_data* md = nullptr;
    MatchData() = default;
    MatchData(const MatchData&) = delete;
    MatchData& operator=(const MatchData&) = delete;
    ~MatchData() { pcre2_match_data_free(md); }
};

// One Isolated Split: every match of `code` in `text` is a piece, and so is the text between.
void split_isolated(const pcre2_code* code, bool jit, pcre2_match_data* md, std::string_view text,
                    const std::function<void(std::string_view)>& on_piece) {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;   // end of the last piece
    size_t from = 0;  // where the next search starts
    while (from < text.size()) {
        // The text was validated once by the caller; PCRE2 need not check it again per match.
        const int rc = jit ? pcre2_jit_match(code, subject, text.size(), from, PCRE2_NO_UTF_CHECK, md, nullptr)
                           : pcre2_match(code, subject, text.size(), from, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) fail("pre-tokeniser: regex matching failed: {}", pcre2_message(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t start = ov[0], end = ov[1];
        if (end == start) {
            // An empty match splits nothing: search again from the next character.
            from = start + 1;
            while (from < text.size() && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80) ++from;
            continue;
        }
        if (start > pos) on_piece(text.substr(pos, start - pos));
        on_piece(text.substr(start, end - start));
        pos = from = end;
    }
    if (pos < text.size()) on_piece(text.substr(pos));
}

}  // namespace

void PreTokenizer::split(std::string_view text, const std::function<void(std::string_view)>& on_piece) const {
    std::vector<MatchData> match(steps_.size());
    for (size_t i = 0; i < steps_.size(); ++i) {
        match[i].md = pcre2_match_data_create_from_pattern(steps_[i].code, nullptr);
        if (!match[i].md) throw std::bad_alloc();
    }
    // Step i splits each piece of step i - 1; the last step's pieces are the result. A single
    // regex (Qwen's, GLM's, o200k's) goes straight to on_piece.
    std::function<void(size_t, std::string_view)> run = [&](size_t i, std::string_view piece) {
        if (i + 1 == steps_.size()) {
            split_isolated(steps_[i].code, steps_[i].jit, match[i].md, piece, on_piece);
            return;
        }
        split_isolated(steps_[i].code, steps_[i].jit, match[i].md, piece, [&](std::string_view p) { run(i + 1, p); });
    };
    run(0, text);
}

}  // namespace sluice
