// config.json of every supported family (qwen3_moe, qwen3_5_moe, qwen3_next; flat or under
// text_config).
#include "format/model_desc.h"
#include "fuzz_support.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    try {
        parse_hf_config(fuzz::write_input("config.json", data, size));
    } catch (const Error&) {
    }
    return 0;
}
