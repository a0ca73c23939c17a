// sluice run: generate a continuation of a prompt given as text (-p, tokenised with the model's
// tokenizer; --chat wraps it in the chat template) or as token ids (--tokens).
#include <cstdio>

#include "cli/commands.h"
#include "cli/stream_reply.h"
#include "runtime/model_tokenizer.h"
#include "runtime/report.h"
#include "runtime/session.h"
#include "tokenizer/chat_template.h"
#include "util/error.h"

namespace sluice::cli {

namespace {

struct Args {
    GenerationArgs gen;
    std::string tokens, prompt, system;
    bool chat = false, no_think = false, print_ids = false, stats = false;
};

// The prompt's token ids: the text as it is, or as one user turn of the chat template.
std::vector<int32_t> encode_prompt(const Args& a, const Tokenizer& tok) {
    std::string text = a.prompt;
    if (a.chat) {
        std::vector<ChatMessage> messages;
        if (!a.system.empty()) messages.push_back(ChatMessage{"system", a.system, std::nullopt, {}});
        messages.push_back(ChatMessage{"user", a.prompt, std::nullopt, {}});
        ChatOptions o;
        if (a.no_think) o.enable_thinking = false;
        text = ChatTemplate(tok.chat_template(), tok.source()).render(messages, o);
    }
    std::vector<int32_t> ids;
    try {
        ids = tok.encode_prompt(text);
    } catch (const Error& e) {
        fail("-p: {}", e.what());
    }
    if (ids.empty()) fail("-p: the prompt is empty");
    return ids;
}

}  // namespace

void register_run(CLI::App& app) {
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("run", "Generate a continuation of a prompt");
    add_generation_options(cmd, args->gen);
    auto* prompt = cmd->add_option("-p,--prompt", args->prompt, "Prompt text; the continuation is printed as it is generated");
    auto* tokens = cmd->add_option("--tokens", args->tokens, "Prompt token ids, comma-separated");
    prompt->excludes(tokens);
    cmd->add_flag("--chat", args->chat, "Wrap -p in the model's chat template as one user turn");
    cmd->add_option("--system", args->system, "System prompt (with --chat)");
    cmd->add_flag("--no-think", args->no_think, "With --chat: answer without thinking (enable_thinking=false)");
    cmd->add_flag("--ids", args->print_ids, "Print the generated token ids on one line");
    cmd->add_flag("--stats", args->stats, "Print speed, I/O, memory and routing statistics to stderr");
    cmd->callback([args, prompt, tokens] {
        check_generation_options(args->gen);
        if (prompt->count() == 0 && tokens->count() == 0) fail("run: give the prompt as -p TEXT or --tokens 1,2,3");
        if ((args->chat || args->no_think || !args->system.empty()) && prompt->count() == 0)
            fail("--chat, --system and --no-think apply to a text prompt (-p)");
        // Text is tokenised before the model loads, so bad input fails at once.
        std::unique_ptr<Tokenizer> tok;
        std::vector<int32_t> ids;
        if (prompt->count() > 0) {
            tok = load_tokenizer(args->gen.engine.model_path);
            ids = encode_prompt(*args, *tok);
        } else {
            ids = parse_token_list(args->tokens);
        }
        args->gen.engine.record_routing = args->stats;
        Engine engine(args->gen.engine);
        Session session(engine);
        session.feed(ids);
        ExpertSourceStats prefill_io = engine.experts().stats();
        engine.experts().reset_stats();
        Sampler sampler(args->gen.sampler);
        std::vector<int32_t> out;
        if (tok) {
            Reply r = stream_reply(session, sampler, *tok, args->gen.n_predict, {}, args->print_ids ? nullptr : stdout);
            out = std::move(r.ids);
            if (!args->print_ids) std::printf("\n");
        } else {
            out = session.generate(args->gen.n_predict, sampler);
        }
        if (args->print_ids || !tok) {
            std::string line;
            for (size_t i = 0; i < out.size(); ++i) line += (i ? " " : "") + std::to_string(out[i]);
            std::printf("%s\n", line.c_str());
        }
        if (args->stats) {
            RunReport r = make_report(session);
            r.prefill_io = prefill_io;
            r.decode_io = engine.experts().stats();
            r.decode_layer_hit_rates = engine.experts().layer_hit_rates();
            if (const RoutingStats* routing = engine.routing()) r.routing = routing->summary();   // none with --gpu
            r.routing_unit = "decode, one call per token";
            std::fprintf(stderr, "%s", r.text().c_str());
        }
    });
}

}  // namespace sluice::cli
