// tokenizer.json: vocabulary, merges, added tokens, normaliser and pre-tokeniser; a tokenizer
// that loads is then used once.
#include "fuzz_support.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    try {
        Tokenizer tok(read_hf_tokenizer(fuzz::write_input("tokenizer.json", data, size)));
        tok.decode(tok.encode("Hello world <|im_end|> \xC3\xA9"));
    } catch (const Error&) {
    }
    return 0;
}
