#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include "util/error.h"

namespace sluice {

namespace {

// Qwen2 / Qwen3 / Qwen3-MoE / Qwen3-Next (model-spec §D.1 step 3).
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen3.5: combining marks join the letter class.
constexpr const char* kQwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string pcre2_message(int code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(code, buf, sizeof buf);
    return reinterpret_cast<const char*>(buf);
}

}  // namespace

const char* pretokenizer_pattern(std::string_view name) {
    if (name == "qwen2") return kQwen2;
    if (name == "qwen35") return kQwen35;
    return nullptr;
}

struct PreTokenizer::Compiled {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const std::string& pattern, const std::string& source)
    : re_(std::make_unique<Compiled>()) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    re_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                              &err, &offset, nullptr);
    if (!re_->code)
        fail("{}: the pre-tokeniser regex does not compile at offset {}: {}", source, offset, pcre2_message(err));
    // JIT is an optimisation: builds of PCRE2 without it still match, only slower.
    re_->jit = pcre2_jit_compile(re_->code, PCRE2_JIT_COMPLETE) == 0;
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::split(std::string_view text, const std::function<void(std::string_view)>& on_piece) const {
    struct MatchData {
        pcre2_match_data* md;
        ~MatchData() { pcre2_match_data_free(md); }
    } m{pcre2_match_data_create_from_pattern(re_->code, nullptr)};
    if (!m.md) throw std::bad_alloc();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;   // end of the last piece
    size_t from = 0;  // where the next search starts
    while (from < text.size()) {
        // The text was validated once by the caller; PCRE2 need not check it again per match.
        const int rc = re_->jit ? pcre2_jit_match(re_->code, subject, text.size(), from, PCRE2_NO_UTF_CHECK, m.md, nullptr)
                                : pcre2_match(re_->code, subject, text.size(), from, PCRE2_NO_UTF_CHECK, m.md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) fail("pre-tokeniser: regex matching failed: {}", pcre2_message(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
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

}  // namespace sluice
