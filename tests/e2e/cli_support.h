// What the command-line tests share: running the binary, and reading its greedy ids.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>

#include "test_support.h"

namespace sluice::test {

inline CommandResult sluice(const std::string& args) { return run_command(sluice_binary() + " " + args); }

// Greedy ids of `run` with the given prompt arguments (space-separated), up to the first of
// `stops` included: a text prompt ends at its stop token, token ids go on.
inline std::string greedy_ids(const std::string& model, const std::string& prompt_args, std::initializer_list<int32_t> stops) {
    auto r = sluice("run -m " + model + " " + prompt_args + " -n 12 --temp 0 --ids");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream in(r.out);
    std::string out;
    for (int32_t id; in >> id;) {
        if (!out.empty()) out += ' ';
        out += std::to_string(id);
        for (int32_t s : stops)
            if (id == s) return out;
    }
    return out;
}

}  // namespace sluice::test
