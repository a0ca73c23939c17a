#include "store/expert_layout.h"

#include <algorithm>

#include "util/error.h"

namespace sluice {

ExpertLayout::ExpertLayout(std::vector<std::string> files, int n_layers, int n_experts)
    : files_(std::move(files)), n_layers_(n_layers), n_experts_(n_experts) {
    if (files_.empty()) fail("expert layout: no files");
    if (n_layers <= 0 || n_experts <= 0)
        fail("expert layout: need at least one layer and one expert, got {} layers and {} experts", n_layers, n_experts);
    parts_.resize(size_t(n_layers) * size_t(n_experts));
}

void ExpertLayout::set(int layer, int expert, const ExpertParts& parts) {
    if (layer < 0 || layer >= n_layers_ || expert < 0 || expert >= n_experts_)
        fail("expert layout: expert ({}, {}) out of range ({} layers, {} experts)", layer, expert, n_layers_, n_experts_);
    for (const ByteRange* r : {&parts.gate, &parts.up, &parts.down}) {
        if (r->file < 0 || size_t(r->file) >= files_.size())
            fail("expert layout: expert ({}, {}) names file {} of {}", layer, expert, r->file, files_.size());
        if (r->length == 0) fail("expert layout: expert ({}, {}) has an empty projection", layer, expert);
    }
    parts_[size_t(layer) * size_t(n_experts_) + size_t(expert)] = parts;
}

bool ExpertLayout::layer_has_experts(int layer) const {
    for (int e = 0; e < n_experts_; ++e)
        if (parts(layer, e).gate.length != 0) return true;
    return false;
}

void ExpertLayout::check_complete() const {
    bool any = false;
    for (int l = 0; l < n_layers_; ++l) {
        if (!layer_has_experts(l)) continue;
        any = true;
        for (int e = 0; e < n_experts_; ++e)
            if (parts(l, e).gate.length == 0) fail("expert layout: expert ({}, {}) has no byte ranges", l, e);
    }
    if (!any) fail("expert layout: none of the {} layers has experts", n_layers_);
}

const ExpertParts& ExpertLayout::parts(int layer, int expert) const {
    if (layer < 0 || layer >= n_layers_ || expert < 0 || expert >= n_experts_)
        fail("expert layout: expert ({}, {}) out of range ({} layers, {} experts)", layer, expert, n_layers_, n_experts_);
    return parts_[size_t(layer) * size_t(n_experts_) + size_t(expert)];
}

uint64_t ExpertLayout::expert_bytes() const {
    uint64_t most = 0;
    for (const ExpertParts& p : parts_) most = std::max(most, p.gate.length + p.up.length + p.down.length);
    return most;
}

}  // namespace sluice
