// Hugging Face safetensors: one file, or shards listed by model.safetensors.index.json.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quant/types.h"
#include "util/mapped_file.h"

namespace sluice {

struct SafetensorsTensor {
    std::string name;
    std::string dtype;            // "BF16", "F16", "F32", "I32" …
    std::vector<int64_t> shape;   // PyTorch order, outermost first
    int file;                     // index into SafetensorsSet::files()
    uint64_t offset;              // absolute offset in that file
    uint64_t bytes;
};

// Maps a safetensors dtype to the GGML type sluice computes with; throws for others.
GgmlType safetensors_dtype_to_ggml(const std::string& dtype, const std::string& tensor, const std::string& file);

// All tensors of a checkpoint, from a single file or a sharded set.
class SafetensorsSet {
public:
    // `path` is a .safetensors file, a model.safetensors.index.json, or a directory holding one
    // of those.
    explicit SafetensorsSet(const std::string& path);

    const std::vector<std::shared_ptr<MappedFile>>& files() const { return files_; }
    const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
    const SafetensorsTensor* find(const std::string& name) const;
    const uint8_t* data(const SafetensorsTensor& t) const { return files_[size_t(t.file)]->data() + t.offset; }

private:
    void add_file(const std::string& path);
    std::vector<std::shared_ptr<MappedFile>> files_;
    std::map<std::string, SafetensorsTensor> tensors_;
};

}  // namespace sluice
