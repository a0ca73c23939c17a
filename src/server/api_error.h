// A failure reported to an HTTP client as an OpenAI error object with its status:
// {"error": {"message", "type", "param", "code"}}. The message is one line naming the field or
// request and what was expected, as every sluice::Error.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "util/error.h"

namespace sluice::server {

class ApiError : public Error {
public:
    ApiError(int status, std::string type, const std::string& message, std::string param = {}, std::string code = {})
        : Error(message), status_(status), type_(std::move(type)), param_(std::move(param)), code_(std::move(code)) {}

    int status() const { return status_; }
    nlohmann::json body() const {
        nlohmann::json e = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
        if (!param_.empty()) e["param"] = param_;
        if (!code_.empty()) e["code"] = code_;
        return {{"error", e}};
    }

private:
    int status_;
    std::string type_, param_, code_;
};

// 400 invalid_request_error about `param` (empty: the request as a whole).
template <typename... Args>
[[noreturn]] void bad_request(const std::string& param, fmt::format_string<Args...> f, Args&&... args) {
    throw ApiError(400, "invalid_request_error", fmt::format(f, std::forward<Args>(args)...), param);
}

}  // namespace sluice::server
