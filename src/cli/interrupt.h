// Ctrl-C as a request, not a kill: while an InterruptScope lives, SIGINT only raises a flag that
// the chat loop polls between tokens, so it can stop the current answer and carry on.
#pragma once
#include <csignal>

namespace sluice::cli {

class InterruptScope {
public:
    InterruptScope();   // installs the handler
    ~InterruptScope();  // restores the previous one
    InterruptScope(const InterruptScope&) = delete;
    InterruptScope& operator=(const InterruptScope&) = delete;

    static bool pending();
    static void clear();

private:
    struct sigaction previous_{};
};

}  // namespace sluice::cli
