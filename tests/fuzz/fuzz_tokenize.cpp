// The tokenizer on arbitrary bytes: encode (invalid UTF-8 is an Error), decode, and the
// streaming decoder on the ids; then the same bytes read as token ids.
#include <cstring>
#include <memory>

#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    // Qwen3's real tokenizer (151k tokens, the Qwen2 pre-tokeniser), loaded once.
    static const std::unique_ptr<Tokenizer> tok =
        std::make_unique<Tokenizer>(read_hf_tokenizer(SLUICE_FIXTURES_DIR "/tokenizer/qwen3/tokenizer.json"));
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        std::vector<int32_t> ids = tok->encode(text);
        for (int32_t id : ids)
            if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
        tok->decode(ids);
    } catch (const Error&) {
    }
    std::vector<int32_t> ids(size / 4);
    if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
    try {
        tok->decode(ids);
    } catch (const Error&) {
    }
    StreamDecoder sd(*tok);
    try {
        for (int32_t id : ids) sd.push(id);
    } catch (const Error&) {
    }
    sd.finish();
    return 0;
}
