#include "cli/stream_reply.h"

#include "tokenizer/stream_decoder.h"

namespace sluice::cli {

Reply stream_reply(Session& session, Sampler& sampler, const Tokenizer& tokenizer, int64_t max_tokens,
                   const std::function<bool()>& cancelled, std::FILE* out) {
    Reply r;
    StreamDecoder decoder(tokenizer);
    auto emit = [&](const std::string& s) {
        r.text += s;
        if (out && !s.empty()) {
            std::fwrite(s.data(), 1, s.size(), out);
            std::fflush(out);
        }
    };
    r.ids = session.generate(max_tokens, sampler, [&](int32_t id) {
        if (cancelled && cancelled()) return false;
        if (tokenizer.is_stop(id)) {
            r.stopped = true;
            return false;
        }
        emit(decoder.push(id));
        return true;
    });
    emit(decoder.finish());
    return r;
}

}  // namespace sluice::cli
