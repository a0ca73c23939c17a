// sluice tokenize: the token ids of a text under the model's tokenizer (no BOS/EOS added), as a
// JSON array (DESIGN.md §6); --pieces shows each token's text beside its id.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "runtime/model_tokenizer.h"
#include "util/error.h"

namespace sluice::cli {

void register_tokenize(CLI::App& app) {
    struct Args {
        std::string model, text, file;
        bool pieces = false;
    };
    auto args = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
    cmd->add_option("-m,--model", args->model, "GGUF file, Hugging Face folder or tokenizer.json")->required();
    auto* positional = cmd->add_option("TEXT", args->text, "Text to tokenise");
    auto* text = cmd->add_option("--text", args->text, "Text to tokenise");
    auto* file = cmd->add_option("--text-file", args->file, "File whose bytes are the text to tokenise");
    positional->excludes(text);
    file->excludes(positional)->excludes(text);
    cmd->add_flag("--pieces", args->pieces, "One line per token: its id and its text (JSON-quoted)");
    cmd->callback([args, positional, text, file] {
        if (positional->count() + text->count() + file->count() == 0)
            fail("tokenize: give the text as an argument, --text TEXT or --text-file FILE");
        std::string input = args->text;
        std::string what = "--text";
        if (file->count() > 0) {
            std::ifstream f(args->file, std::ios::binary);
            if (!f) fail("{}: cannot open", args->file);
            std::stringstream ss;
            ss << f.rdbuf();
            input = ss.str();
            what = args->file;
        }
        auto tok = load_tokenizer(args->model);
        std::vector<int32_t> ids;
        try {
            ids = tok->encode(input);
        } catch (const Error& e) {
            fail("{}: {}", what, e.what());
        }
        if (!args->pieces) {
            std::printf("%s\n", nlohmann::json(ids).dump().c_str());
            return;
        }
        for (int32_t id : ids) {
            // A token may hold part of a character: show it with U+FFFD, as decoding alone would.
            const std::string piece = tok->decode(std::span<const int32_t>(&id, 1));
            std::printf("%d\t%s\n", id, nlohmann::json(piece).dump().c_str());
        }
    });
}

}  // namespace sluice::cli
