// Kimi-K2's tokenizer as its Hugging Face repository ships it, without a tokenizer.json:
// tiktoken.model (one line per token: the base64 of its bytes, a space, its rank), 256 special
// ids after the ranks (tokenization_kimi.py's num_reserved_special_tokens) named by
// tokenizer_config.json's added_tokens_decoder or `<|reserved_token_ID|>`, and Kimi's tiktoken
// pattern (the "kimi-k2" pre-tokeniser). The result is the TokenizerSpec a GGUF of the model holds.
#pragma once
#include <string>

#include "tokenizer/tokenizer_spec.h"

namespace sluice {

inline constexpr int kTiktokenSpecialIds = 256;

// Whether `dir` holds tiktoken.model and no tokenizer.json (which, where both exist, wins).
bool has_tiktoken_tokenizer(const std::string& dir);

// Tokens are written in GPT-2's byte-level alphabet and the merges derived from the ranks as
// llama.cpp's converter derives them: a token's merge is the last step of BPE on its bytes with
// only the ranks below its own (convert_hf_to_gguf.py's `bpe(mergeable_ranks, token,
// max_rank)`). Throws naming the file and line of a malformed entry (no rank, bad base64, a
// rank or token given twice) or a missing rank.
TokenizerSpec read_tiktoken_tokenizer(const std::string& dir);

}  // namespace sluice
