#include "cli/interrupt.h"

namespace sluice::cli {

namespace {
volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }
}  // namespace

InterruptScope::InterruptScope() {
    struct sigaction sa{};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    // No SA_RESTART: a Ctrl-C at the prompt interrupts the blocking read, so the line reader
    // can drop the line being typed.
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, &previous_);
    g_interrupted = 0;
}

InterruptScope::~InterruptScope() { sigaction(SIGINT, &previous_, nullptr); }

bool InterruptScope::pending() { return g_interrupted != 0; }
void InterruptScope::clear() { g_interrupted = 0; }

}  // namespace sluice::cli
