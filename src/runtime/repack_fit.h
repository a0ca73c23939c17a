// Whether a model run without --mem has room for its interleaved copies (kernels/repack.h): the
// Q4_K / Q6_K weights are read into anonymous memory at load and their file pages dropped
// (util/file_reader.h), the rest of the model is read through the file's mapping. The copies
// cannot be given back under pressure; where they do not fit, the file's layout, mapped, pages in
// and out as the kernel sees fit instead of thrashing (issue 16: 0.92 tok/s repacked against 6.59
// with --no-repack).
#pragma once
#include <cstdint>
#include <string>

#include "format/model_desc.h"

namespace sluice {

struct InMemoryFootprint {
    uint64_t copied = 0;   // the interleaved copies, anonymous memory
    uint64_t mapped = 0;   // the rest of the model, read through the mapping
    uint64_t total() const { return copied + mapped; }
};

// The model's footprint with repacking: each tensor counted once, as its copy or in the file.
// Dense copies are the 2-D tensors the kernels interleave (the models load every such tensor as
// a matrix); expert copies as MappedExperts makes them.
InMemoryFootprint repacked_footprint(const ModelDesc& desc);

struct RepackDecision {
    bool repack = false;
    std::string notice;   // one line for stderr when a wanted repack is refused, else empty
};

// Repack when the footprint fits in `available` bytes (MemAvailable, page cache included: the
// copied bytes' pages are dropped as they are copied) with a tenth to spare for the KV cache,
// scratch and the rest of the system. Nothing to copy: no repack and no notice.
RepackDecision decide_repack(const InMemoryFootprint& footprint, uint64_t available);

}  // namespace sluice
