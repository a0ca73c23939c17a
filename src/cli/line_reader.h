// Reads the user's lines for `sluice chat`: with libedit's line editing and history (kept in
// $XDG_STATE_HOME/sluice/chat_history) when stdin is a terminal, plain lines when it is a pipe
// or a file, so scripted conversations work too.
#pragma once
#include <string>

struct editline;
struct history;

namespace sluice::cli {

class LineReader {
public:
    explicit LineReader(std::string prompt);
    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    enum class Status { Line, Interrupted, End };
    // A line without its newline; Interrupted when Ctrl-C arrived while it was being typed,
    // End at end of input (Ctrl-D).
    Status read(std::string& line);
    bool interactive() const { return el_ != nullptr; }

private:
    std::string prompt_;
    std::string history_file_;
    editline* el_ = nullptr;
    struct history* hist_ = nullptr;
};

}  // namespace sluice::cli
