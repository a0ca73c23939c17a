// Pre-tokenisation: the model's regexes split normalised text into pieces that BPE encodes one
// at a time. Each regex is a Hugging Face `Split` with behaviour `Isolated` (every match is a
// piece, and so is any text between matches); a tokenizer may have several, each applied to
// every piece of the one before (Hugging Face's Sequence; llama.cpp's regex_exprs). PCRE2 in
// UTF + UCP mode supplies the Unicode classes (\p{L}, \s).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// What a llama.cpp pre-tokeniser name (`tokenizer.ggml.pre`) stands for: the split regexes of
// that model family's Hugging Face tokenizer, as its tokenizer.json writes them, and whether
// its normaliser is NFC (GGUF records neither).
struct PreTokenizerPreset {
    std::vector<std::string> patterns;
    bool nfc;
};

// nullptr for a name sluice does not know.
const PreTokenizerPreset* pretokenizer_preset(std::string_view name);
// The names pretokenizer_preset knows, comma-separated, for messages.
std::string known_pretokenizers();

class PreTokenizer {
public:
    // Compiles the patterns (with JIT where available), applied in order; throws naming `source`
    // and the pattern when one does not compile or there are none.
    PreTokenizer(const std::vector<std::string>& patterns, const std::string& source);
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // Calls on_piece for each piece of `text`, in order; `text` must be valid UTF-8.
    void split(std::string_view text, const std::function<void(std::string_view)>& on_piece) const;

private:
    struct Compiled;
    std::vector<Compiled> steps_;
};

}  // namespace sluice
