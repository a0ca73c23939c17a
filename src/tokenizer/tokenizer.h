// The model's tokenizer (model-spec §D.1): added tokens are matched first, the text between
// them is NFC-normalised, split by the pre-tokeniser regex and BPE-encoded; decoding maps the
// byte-level symbols back to bytes.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_spec.h"

namespace sluice {

class Tokenizer {
public:
    // Throws naming spec.source when the spec is inconsistent.
    explicit Tokenizer(const TokenizerSpec& spec);

    // Token ids of `text` (no BOS/EOS added; added tokens written in the text are matched).
    // Throws when text is not valid UTF-8, saying where.
    std::vector<int32_t> encode(std::string_view text) const;
    // Token ids of a prompt (run -p, perplexity, chat, the server): encode(text), with BOS first
    // when the tokenizer adds one (adds_bos) and the text does not already start with it. Every
    // prompt goes through here, so no caller forgets BOS or writes it twice.
    std::vector<int32_t> encode_prompt(std::string_view text) const;

    // The bytes of one token: a BPE token's bytes may end inside a UTF-8 character.
    const std::string& token_bytes(int32_t id) const;
    // Text of `ids`, invalid UTF-8 replaced by U+FFFD; added tokens appear as their text.
    std::string decode(std::span<const int32_t> ids) const;

    int32_t vocab_size() const { return int32_t(bytes_.size()); }
    int32_t eos() const { return eos_; }
    int32_t bos() const { return bos_; }  // -1 when there is none
    bool adds_bos() const { return add_bos_; }
    // The id of an added token by its text, or -1.
    int32_t added_token(std::string_view text) const;
    // Ids that end generation: eos, the chat end-of-turn `<|im_end|>`, `<|endoftext|>`.
    bool is_stop(int32_t id) const;

    const std::string& chat_template() const { return chat_template_; }
    const std::string& source() const { return source_; }

private:
    void encode_segment(std::string_view text, std::vector<int32_t>& out) const;
    void check_id(int32_t id) const;

    std::string source_;
    std::vector<std::string> bytes_;  // by id
    struct Added {
        std::string text;
        int32_t id;
    };
    // Added tokens grouped by their first byte, longest first, for leftmost-longest matching.
    std::vector<std::vector<Added>> added_by_first_byte_;
    PreTokenizer pre_;
    Bpe bpe_;
    bool nfc_;
    int32_t eos_;
    int32_t bos_;
    bool add_bos_;
    std::vector<int32_t> stop_ids_;
    std::string chat_template_;
};

}  // namespace sluice
