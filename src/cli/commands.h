// Subcommands of the `sluice` program, each in its own file. register_* adds the subcommand and
// its options to the app; the callback runs it.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::cli {

void register_run(CLI::App& app);
void register_eval(CLI::App& app);
void register_inspect(CLI::App& app);
void register_convert(CLI::App& app);
void register_synth(CLI::App& app);
void register_bench(CLI::App& app);

// "1,2,3" → ids; throws naming the bad entry.
std::vector<int32_t> parse_token_list(const std::string& text);

}  // namespace sluice::cli
