// The `sluice` program: one subcommand per job (DESIGN.md §6). Every failure ends with a
// one-line error on stderr and a non-zero exit code.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
    CLI::App app{"sluice: run Mixture-of-Experts models larger than memory by streaming experts from disk"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Help for every subcommand");
    sluice::cli::register_run(app);
    sluice::cli::register_chat(app);
    sluice::cli::register_tokenize(app);
    sluice::cli::register_eval(app);
    sluice::cli::register_inspect(app);
    sluice::cli::register_convert(app);
    sluice::cli::register_synth(app);
    sluice::cli::register_bench(app);
    sluice::cli::register_perplexity(app);
    sluice::cli::register_serve(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const sluice::Error& e) {
        std::fprintf(stderr, "sluice: error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "sluice: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
