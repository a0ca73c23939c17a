// Resident dense weights: matrices used in place from the mapped file (copied only when the
// file's offset is misaligned for the element type), or — under a memory budget — read once
// into owned memory with the page cache dropped behind them, so neither the page cache nor a
// file changed under us can touch them later. With `repack`, Q4_K and Q6_K matrices are read
// into owned memory (util/file_reader.h: not through the mapping, whose pages would stay resident
// beside the copy) and interleaved there for decode (kernels/repack.h). Small vectors are
// converted to float32.
// Matrices and `vec`s are handed to the model's backend, which may copy them to its device.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "format/model_desc.h"
#include "kernels/matmul.h"
#include "model/backend.h"
#include "util/file_reader.h"

namespace sluice {

class DenseWeights {
public:
    DenseWeights(const ModelDesc& desc, Backend& backend, bool owned, bool repack)
        : desc_(desc), backend_(backend), owned_(owned), repack_(repack) {}

    // A [rows, cols] matrix (GGUF ne = {cols, rows}), in the backend.
    Weight matrix(const std::string& name, int64_t rows, int64_t cols);
    // A [count, rows, cols] tensor (GGUF ne = {cols, rows, count}) as `count` matrices, in the
    // backend, in the file's layout (per-head projections: DeepSeek's attn_k_b, attn_v_b).
    std::vector<Weight> matrices(const std::string& name, int64_t count, int64_t rows, int64_t cols);
    // A [rows, cols] matrix made by the model from float values, kept in `type` (a float type:
    // what the values came from, so nothing is rounded), in the backend.
    Weight made_matrix(const std::vector<float>& values, int64_t rows, int64_t cols, GgmlType type, const std::string& name);
    // The type a tensor is stored in.
    GgmlType type_of(const std::string& name) const;
    // A vector of n values as float32 (norms, biases, gates): on the host, and in the backend.
    std::vector<float> vector(const std::string& name, int64_t n);
    Vec vec(const std::string& name, int64_t n) { return backend_.vec(vector(name, n)); }
    // Any-shaped tensor as float32, checked against `ne`.
    std::vector<float> floats(const std::string& name, const std::vector<int64_t>& ne);
    bool has(const std::string& name) const { return desc_.find(name) != nullptr; }

    const ModelDesc& desc() const { return desc_; }

private:
    // The tensor's bytes: in place in the mapping, or (owned_) an owned copy.
    const uint8_t* bytes(const TensorRef& t);
    // The tensor read into a copy of ours, its pages dropped from the page cache behind it.
    const uint8_t* owned_copy(const TensorRef& t);

    Weight host_matrix(const std::string& name, int64_t rows, int64_t cols);

    const ModelDesc& desc_;
    Backend& backend_;
    bool owned_;
    bool repack_;
    std::deque<std::vector<uint8_t>> copies_;  // owned copies (budget mode, misaligned tensors, interleaved)
    std::vector<std::unique_ptr<FileReader>> readers_;   // per file of desc_, opened on first use
};

}  // namespace sluice
