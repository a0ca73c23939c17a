// Kimi-K2's tiktoken.model (base64 token, space, rank per line) in a folder without
// tokenizer.json; a tokenizer that loads is then used once.
#include <filesystem>

#include "fuzz_support.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    static const std::string dir = [] {
        const auto d = fuzz::scratch_dir() / "tiktoken";
        std::filesystem::create_directories(d);
        return d.string();
    }();
    try {
        fuzz::write_input("tiktoken/tiktoken.model", data, size);
        Tokenizer tok(read_hf_tokenizer(dir));
        tok.decode(tok.encode_prompt("Hello world [BOS] \xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD"));
    } catch (const Error&) {
    }
    return 0;
}
