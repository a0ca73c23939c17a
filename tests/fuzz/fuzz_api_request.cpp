// The server's request bodies (first byte: chat or text completion, the rest the body) and the
// reply-side text scanners (stop strings, thinking and tool-call splitting) on the same bytes.
#include <string>

#include "fuzz_support.h"
#include "server/api_request.h"
#include "server/reply_splitter.h"
#include "server/stop_matcher.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    if (size == 0) return 0;
    const bool chat = data[0] & 1;
    const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        server::parse_api_request(body, chat);
    } catch (const Error&) {
    }
    server::StopMatcher stops({"</", "\n\n", "END"});
    server::ReplySplitter splitter(data[0] & 2, data[0] & 4);
    for (size_t i = 0; i < body.size(); i += 3) {
        const std::string piece = body.substr(i, 3);
        stops.push(piece);
        splitter.push(piece);
    }
    stops.finish();
    splitter.finish();
    return 0;
}
