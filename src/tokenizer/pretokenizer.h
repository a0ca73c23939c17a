// Pre-tokenisation: the model's regex splits normalised text into pieces that BPE encodes one
// at a time (Hugging Face `Split` with behaviour `Isolated`: every match is a piece, and so is
// any text between matches). PCRE2 in UTF + UCP mode supplies the Unicode classes (\p{L}, \s).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluice {

// The split pattern of a llama.cpp pre-tokeniser name (`tokenizer.ggml.pre`), as Hugging Face's
// tokenizer.json writes it; nullptr for a name sluice does not know.
const char* pretokenizer_pattern(std::string_view name);

class PreTokenizer {
public:
    // Compiles the pattern (with JIT where available); throws naming `source` when it does not
    // compile.
    PreTokenizer(const std::string& pattern, const std::string& source);
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // Calls on_piece for each piece of `text`, in order; `text` must be valid UTF-8.
    void split(std::string_view text, const std::function<void(std::string_view)>& on_piece) const;

private:
    struct Compiled;
    std::unique_ptr<Compiled> re_;
};

}  // namespace sluice
