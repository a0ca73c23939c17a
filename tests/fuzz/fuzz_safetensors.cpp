// Safetensors: a single file's header and tensor table, or (first byte odd) a sharded set's
// model.safetensors.index.json naming a shard that is the rest of the input.
#include <cstring>

#include "format/safetensors.h"
#include "fuzz_support.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    if (size == 0) return 0;
    try {
        if (data[0] % 2 == 0) {
            SafetensorsSet set(fuzz::write_input("model.safetensors", data + 1, size - 1));
        } else {
            // index JSON, a NUL, then the shard's bytes
            const uint8_t* end = static_cast<const uint8_t*>(std::memchr(data + 1, 0, size - 1));
            const size_t json_len = end ? size_t(end - data - 1) : size - 1;
            const size_t shard_at = end ? json_len + 2 : size;
            fuzz::write_input("model-00001-of-00001.safetensors", data + shard_at, size - shard_at);
            SafetensorsSet set(fuzz::write_input("model.safetensors.index.json", data + 1, json_len));
        }
    } catch (const Error&) {
    }
    return 0;
}
