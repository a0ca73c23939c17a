#include <charconv>

#include "cli/commands.h"
#include "util/error.h"

namespace sluice::cli {

std::vector<int32_t> parse_token_list(const std::string& text) {
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t end = text.find_first_of(", ", pos);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(pos, end - pos);
        if (!item.empty()) {
            int32_t v = 0;
            auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
            if (ec != std::errc() || p != item.data() + item.size() || v < 0)
                fail("--tokens: '{}' is not a token id (expected e.g. 1,2,3)", item);
            ids.push_back(v);
        }
        pos = end + 1;
    }
    if (ids.empty()) fail("--tokens: no token ids given");
    return ids;
}

}  // namespace sluice::cli
