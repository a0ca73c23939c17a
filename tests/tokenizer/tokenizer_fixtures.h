// Tokenizers from the shared fixtures, loaded once per test binary.
#pragma once
#include "test_support.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace sluice::test {

// The real Qwen3 tokenizer (151,669 tokens).
inline const Tokenizer& qwen3_tokenizer() {
    static const Tokenizer t(read_hf_tokenizer(fixture("tokenizer/qwen3")));
    return t;
}

// The tiny fixture models' 512-token tokenizer: one token per byte and 253 merges.
inline const Tokenizer& tiny_tokenizer() {
    static const Tokenizer t(read_hf_tokenizer(fixture("models/qwen3moe-tiny")));
    return t;
}

}  // namespace sluice::test
