#include "runtime/repack_fit.h"

#include <fmt/format.h>

#include "kernels/repack.h"
#include "model/expert_source.h"
#include "util/size.h"

namespace sluice {

InMemoryFootprint repacked_footprint(const ModelDesc& desc) {
    uint64_t dense_copied = 0;
    for (const auto& [name, t] : desc.tensors) {
        const bool matrix = t.ne.size() == 2 || (t.ne.size() == 3 && t.ne[2] == 1);
        if (matrix && kernels::can_repack(Weight{t.type, nullptr, t.ne[1], t.ne[0]})) dense_copied += t.bytes;
    }
    const uint64_t copied = dense_copied + MappedExperts::repacked_bytes(desc);
    return {copied, desc.dense_bytes() + desc.expert_bytes() - copied};
}

RepackDecision decide_repack(const InMemoryFootprint& footprint, uint64_t available) {
    if (footprint.copied == 0) return {};
    const uint64_t usable = available / 10 * 9;
    if (footprint.total() <= usable) return {true, ""};
    return {false, fmt::format("sluice: interleaved copies of {} plus {} read through the mapping need {}, more than "
                               "{} (90% of the {} available): using the file's layout, as --no-repack",
                               format_size(footprint.copied), format_size(footprint.mapped),
                               format_size(footprint.total()), format_size(usable), format_size(available))};
}

}  // namespace sluice
