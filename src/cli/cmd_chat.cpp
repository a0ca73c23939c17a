// sluice chat: an interactive conversation in the model's chat format. Each turn renders the
// whole conversation with the chat template and feeds only what the model has not seen yet;
// Ctrl-C stops the answer being written, /reset starts over, /quit (or Ctrl-D) leaves.
#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "cli/line_reader.h"
#include "cli/stream_reply.h"
#include "runtime/model_tokenizer.h"
#include "runtime/session.h"
#include "tokenizer/chat_template.h"
#include "util/error.h"

namespace sluice::cli {

namespace {

constexpr const char* kHelp = "/reset starts a new conversation, /quit (or Ctrl-D) leaves, Ctrl-C stops an answer";

// Notices go to stderr so that stdout carries only the answers.
void notice(const std::string& s) { std::fprintf(stderr, "[%s]\n", s.c_str()); }

ChatMessage message(std::string role, std::string content) {
    ChatMessage m;
    m.role = std::move(role);
    m.content = std::move(content);
    return m;
}

// Brings the session to exactly `ids`: keeps its state when it holds a prefix of them (the
// conversation only grew) and otherwise starts again, since the template may rewrite earlier
// turns (Qwen3 drops the thinking of answered turns). Feeds in batches so that Ctrl-C is
// noticed; returns false when it was.
bool catch_up(Session& session, const std::vector<int32_t>& ids, size_t batch) {
    const auto& seen = session.history();
    if (seen.size() > ids.size() || !std::equal(seen.begin(), seen.end(), ids.begin())) session.reset();
    for (size_t i = session.history().size(); i < ids.size(); i += batch) {
        if (InterruptScope::pending()) return false;
        const size_t n = std::min(batch, ids.size() - i);
        session.feed(std::span<const int32_t>(ids.data() + i, n));
    }
    return true;
}

}  // namespace

void register_chat(CLI::App& app) {
    struct Args {
        GenerationArgs gen;
        std::string system;
        bool no_think = false;
    };
    auto args = std::make_shared<Args>();
    args->gen.n_predict = 2048;
    auto* cmd = app.add_subcommand("chat", "Talk with the model in its chat format");
    add_generation_options(cmd, args->gen);
    cmd->add_option("--system", args->system, "System prompt");
    cmd->add_flag("--no-think", args->no_think, "Answer without thinking (the template's enable_thinking=false)");
    cmd->callback([args] {
        check_generation_options(args->gen);
        auto tok = load_tokenizer(args->gen.engine.model_path);
        const ChatTemplate tmpl(tok->chat_template(), tok->source());
        Engine engine(args->gen.engine);
        Session session(engine);
        Sampler sampler(args->gen.sampler);
        const size_t batch = size_t(engine.prefill_batch());
        ChatOptions options;
        if (args->no_think) options.enable_thinking = false;
        std::vector<ChatMessage> start;
        if (!args->system.empty()) start.push_back(message("system", args->system));
        std::vector<ChatMessage> messages = start;

        InterruptScope interrupts;
        LineReader input("> ");
        if (input.interactive()) notice(kHelp);
        std::string line;
        for (;;) {
            InterruptScope::clear();
            const LineReader::Status status = input.read(line);
            if (status == LineReader::Status::End) break;
            if (status == LineReader::Status::Interrupted) {
                if (input.interactive()) std::printf("\n");  // leave the abandoned line; a fresh prompt
                continue;
            }
            InterruptScope::clear();  // a Ctrl-C typed before Enter belonged to the prompt
            if (line.empty()) continue;
            if (line == "/quit" || line == "/exit") break;
            if (line == "/reset") {
                messages = start;
                session.reset();
                notice("new conversation");
                continue;
            }
            if (line[0] == '/') {
                notice("unknown command " + line + "; " + kHelp);
                continue;
            }
            messages.push_back(message("user", line));
            std::vector<int32_t> ids;
            try {
                ids = tok->encode_prompt(tmpl.render(messages, options));
            } catch (const Error& e) {
                notice(e.what());
                messages.pop_back();
                continue;
            }
            if (int64_t(ids.size()) >= engine.context()) {
                notice(fmt::format("the conversation ({} tokens) no longer fits the {}-token context; /reset starts a new one",
                                   ids.size(), engine.context()));
                messages.pop_back();
                continue;
            }
            if (!catch_up(session, ids, batch)) {
                notice("interrupted");
                messages.pop_back();
                continue;
            }
            Reply reply = stream_reply(session, sampler, *tok, args->gen.n_predict, InterruptScope::pending, stdout);
            std::printf("\n");
            std::fflush(stdout);
            if (InterruptScope::pending()) notice("stopped");
            messages.push_back(message("assistant", reply.text));
        }
    });
}

}  // namespace sluice::cli
