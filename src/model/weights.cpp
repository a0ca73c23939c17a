#include "model/weights.h"

#include "kernels/repack.h"
#include "util/error.h"
#include "util/file_reader.h"

namespace sluice {

namespace {
size_t element_alignment(GgmlType t) {
    switch (t) {
        case GgmlType::F32: return 4;
        case GgmlType::F16:
        case GgmlType::BF16: return 2;
        default: return 1;
    }
}
}  // namespace

const uint8_t* DenseWeights::bytes(const TensorRef& t) { return owned_ ? owned_copy(t) : desc_.data(t); }

const uint8_t* DenseWeights::owned_copy(const TensorRef& t) {
    const MappedFile& file = *desc_.files[size_t(t.file)];
    if (file.is_in_memory()) {   // no file to read: the bytes are in memory already
        const uint8_t* p = desc_.data(t);
        return copies_.emplace_back(p, p + t.bytes).data();
    }
    if (readers_.size() < desc_.files.size()) readers_.resize(desc_.files.size());
    std::unique_ptr<FileReader>& reader = readers_[size_t(t.file)];
    if (!reader) reader = std::make_unique<FileReader>(file.path());
    copies_.emplace_back(t.bytes);
    reader->read(t.offset, t.bytes, copies_.back().data(), "tensor " + t.source_name);
    file.release(t.offset, t.bytes);
    return copies_.back().data();
}

Weight DenseWeights::matrix(const std::string& name, int64_t rows, int64_t cols) {
    return backend_.weight(host_matrix(name, rows, cols), name);
}

Weight DenseWeights::host_matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorRef& t = desc_.require(name, {cols, rows});
    if (!type_info(t.type).supported)
        fail("{}: tensor {} has type {}, which sluice cannot compute with yet", desc_.path, name, type_name(t.type));
    // Interleaved: read into memory of ours and interleaved there, never faulted in through the
    // mapping, so the file's pages do not stay resident beside the copy (FileReader).
    if (repack_ && kernels::can_repack(Weight{t.type, nullptr, rows, cols}))
        return kernels::repack_in_place(Weight{t.type, owned_copy(t), rows, cols});
    const uint8_t* p = bytes(t);
    if (reinterpret_cast<uintptr_t>(p) % element_alignment(t.type) != 0) {
        copies_.emplace_back(p, p + t.bytes);
        p = copies_.back().data();
    }
    return Weight{t.type, p, rows, cols};
}

std::vector<Weight> DenseWeights::matrices(const std::string& name, int64_t count, int64_t rows, int64_t cols) {
    const TensorRef& t = desc_.require(name, {cols, rows, count});
    if (!type_info(t.type).supported)
        fail("{}: tensor {} has type {}, which sluice cannot compute with yet", desc_.path, name, type_name(t.type));
    const uint8_t* p = bytes(t);
    if (reinterpret_cast<uintptr_t>(p) % element_alignment(t.type) != 0) {
        copies_.emplace_back(p, p + t.bytes);
        p = copies_.back().data();
    }
    const uint64_t each = row_bytes(t.type, cols) * uint64_t(rows);
    std::vector<Weight> out;
    for (int64_t i = 0; i < count; ++i)
        out.push_back(backend_.weight(Weight{t.type, p + uint64_t(i) * each, rows, cols}, name));
    return out;
}

Weight DenseWeights::made_matrix(const std::vector<float>& values, int64_t rows, int64_t cols, GgmlType type,
                                 const std::string& name) {
    copies_.emplace_back(row_bytes(type, cols) * size_t(rows));
    quantize_row_ref(type, values.data(), copies_.back().data(), rows * cols);
    return backend_.weight(Weight{type, copies_.back().data(), rows, cols}, name);
}

GgmlType DenseWeights::type_of(const std::string& name) const {
    const TensorRef* t = desc_.find(name);
    if (!t) fail("{}: missing tensor {}", desc_.path, name);
    return t->type;
}

std::vector<float> DenseWeights::floats(const std::string& name, const std::vector<int64_t>& ne) {
    const TensorRef& t = desc_.require(name, ne);
    int64_t n = 1;
    for (int64_t d : t.ne) n *= d;
    if (!type_info(t.type).supported)
        fail("{}: tensor {} has type {}, which sluice cannot compute with yet", desc_.path, name, type_name(t.type));
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row_ref(t.type, owned_ ? bytes(t) : desc_.data(t), out.data(), n);
    if (owned_) copies_.pop_back();  // only the float copy is kept
    return out;
}

std::vector<float> DenseWeights::vector(const std::string& name, int64_t n) { return floats(name, {n}); }

}  // namespace sluice
