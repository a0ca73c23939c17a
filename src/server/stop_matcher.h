// A request's stop strings over text that arrives piece by piece: releases only text that cannot
// be the start of a stop string, and cuts the reply where one appears (the stop string itself is
// not part of the reply, as in OpenAI's API).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace sluice::server {

class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

    // Appends `piece`; returns the text now safe to release.
    std::string push(std::string_view piece);
    // The reply ended: whatever was held back (none of it a stop string).
    std::string finish();
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string held_;   // text that may still turn out to begin a stop string
    bool stopped_ = false;
};

}  // namespace sluice::server
