// Where each routed expert's bytes are on disk. The model fills one ExpertLayout from its
// description; the store reads from it and never parses model files itself.
//
// The three projections of an expert need not be adjacent: GGUF stacks all experts of a layer
// per projection (gate of every expert, then up, then down), Hugging Face safetensors has one
// tensor per expert and projection, or a fused gate_up tensor. So each projection has its own
// byte range, and offsets and lengths may have any alignment.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct ByteRange {
    int file = 0;          // index into ExpertLayout::files()
    uint64_t offset = 0;   // byte offset in that file
    uint64_t length = 0;   // bytes
};

struct ExpertParts {
    ByteRange gate, up, down;
};

class ExpertLayout {
public:
    ExpertLayout(std::vector<std::string> files, int n_layers, int n_experts);

    // Records where (layer, expert) lives; throws sluice::Error on an index out of range, an
    // unknown file or an empty part.
    void set(int layer, int expert, const ExpertParts& parts);
    // Throws naming the first expert that was never set in a layer that has experts; a layer
    // none of whose experts was set is a dense layer (DeepSeek-V3's first layers).
    void check_complete() const;
    bool layer_has_experts(int layer) const;

    const std::vector<std::string>& files() const { return files_; }
    int n_layers() const { return n_layers_; }
    int n_experts() const { return n_experts_; }
    const ExpertParts& parts(int layer, int expert) const;
    // The largest gate + up + down byte count of any expert (what one expert costs to hold,
    // before the store's alignment padding).
    uint64_t expert_bytes() const;

private:
    std::vector<std::string> files_;
    int n_layers_, n_experts_;
    std::vector<ExpertParts> parts_;   // [layer * n_experts + expert]
};

}  // namespace sluice
