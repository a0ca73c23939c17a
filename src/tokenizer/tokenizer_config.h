// What a Hugging Face folder says about its tokenizer beside the vocabulary, whichever file holds
// that (tokenizer.json or Kimi's tiktoken.model): tokenizer_config.json's BOS / EOS tokens,
// add_bos_token and chat template (or chat_template.jinja), and generation_config.json's ids
// that end generation.
#pragma once
#include <string>

#include "tokenizer/tokenizer_spec.h"

namespace sluice {

// Fills spec's bos, eos, add_bos, chat_template and stop_ids from the files in `dir` that exist;
// spec.tokens must already be filled (BOS and EOS are named by their text). Throws naming the
// file when one has a field of the wrong type.
void read_tokenizer_config(TokenizerSpec& spec, const std::string& dir);

}  // namespace sluice
