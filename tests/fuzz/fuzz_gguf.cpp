// GGUF reader: header, metadata, tensor table, then the model description and the tokenizer
// built from the file's metadata, as `sluice run -m FILE.gguf` would.
#include "format/model_desc.h"
#include "fuzz_support.h"
#include "runtime/model_tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    const std::string path = fuzz::write_input("model.gguf", data, size);
    try {
        GgufFile g(path);
        try {
            ModelDesc::open(path);
        } catch (const Error&) {
        }
        Tokenizer tok(gguf_tokenizer_spec(g));
        tok.decode(tok.encode("Hello world <|im_end|> \xC3\xA9"));
    } catch (const Error&) {
    }
    return 0;
}
