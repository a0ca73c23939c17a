#include "cli/line_reader.h"

#include <histedit.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/interrupt.h"

namespace sluice::cli {

namespace {

namespace fs = std::filesystem;

// libedit asks for the prompt through a callback with no user pointer.
thread_local const std::string* g_prompt = nullptr;
const char* prompt_of(EditLine*) { return g_prompt ? g_prompt->c_str() : ""; }

std::string history_path() {
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    if (!state && !home) return {};
    fs::path dir = state ? fs::path(state) / "sluice" : fs::path(home) / ".local" / "state" / "sluice";
    std::error_code ec;
    fs::create_directories(dir, ec);
    return ec ? std::string() : (dir / "chat_history").string();
}

void strip_newline(std::string& s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
}

}  // namespace

LineReader::LineReader(std::string prompt) : prompt_(std::move(prompt)) {
    if (!isatty(STDIN_FILENO)) return;
    std::setlocale(LC_CTYPE, "");  // so libedit reads and redraws UTF-8 input correctly
    g_prompt = &prompt_;
    el_ = el_init("sluice", stdin, stdout, stderr);
    hist_ = history_init();
    HistEvent ev;
    history(hist_, &ev, H_SETSIZE, 1000);
    history(hist_, &ev, H_SETUNIQUE, 1);
    history_file_ = history_path();
    if (!history_file_.empty()) history(hist_, &ev, H_LOAD, history_file_.c_str());
    el_set(el_, EL_PROMPT, prompt_of);
    el_set(el_, EL_EDITOR, "emacs");
    el_set(el_, EL_HIST, history, hist_);
    el_source(el_, nullptr);  // the user's ~/.editrc, if any
}

LineReader::~LineReader() {
    if (!el_) return;
    HistEvent ev;
    if (!history_file_.empty()) history(hist_, &ev, H_SAVE, history_file_.c_str());
    history_end(hist_);
    el_end(el_);
    g_prompt = nullptr;
}

LineReader::Status LineReader::read(std::string& line) {
    if (el_) {
        int count = 0;
        const char* s = el_gets(el_, &count);
        if (!s) return count < 0 && InterruptScope::pending() ? Status::Interrupted : Status::End;
        line = s;
        strip_newline(line);
        if (!line.empty()) {
            HistEvent ev;
            history(hist_, &ev, H_ENTER, line.c_str());
        }
        return Status::Line;
    }
    char* buf = nullptr;
    size_t cap = 0;
    errno = 0;
    const ssize_t n = getline(&buf, &cap, stdin);
    if (n >= 0) line.assign(buf, size_t(n));
    std::free(buf);
    if (n < 0) {
        if (errno == EINTR && InterruptScope::pending()) {
            std::clearerr(stdin);
            return Status::Interrupted;
        }
        return Status::End;
    }
    strip_newline(line);
    return Status::Line;
}

}  // namespace sluice::cli
