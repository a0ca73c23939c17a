#include "model/weights.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernels/repack.h"
#include "util/error.h"

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

const uint8_t* DenseWeights::bytes(const TensorRef& t) {
    const uint8_t* p = desc_.data(t);
    if (!owned_) return p;
    const std::string& path = desc_.files[size_t(t.file)]->path();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
    // No readahead: it would pull the neighbouring expert tensors into the page cache.
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    copies_.emplace_back(t.bytes);
    uint8_t* dst = copies_.back().data();
    uint64_t done = 0;
    while (done < t.bytes) {
        ssize_t got = ::pread(fd, dst + done, t.bytes - done, off_t(t.offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            int e = errno;
            ::close(fd);
            fail("{}: reading tensor {} failed: {}", path, t.source_name, got < 0 ? std::strerror(e) : "unexpected end of file");
        }
        done += uint64_t(got);
    }
    ::posix_fadvise(fd, off_t(t.offset), off_t(t.bytes), POSIX_FADV_DONTNEED);
    ::close(fd);
    return dst;
}

Weight DenseWeights::matrix(const std::string& name, int64_t rows, int64_t cols) {
    return backend_.weight(host_matrix(name, rows, cols), name);
}

Weight DenseWeights::host_matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorRef& t = desc_.require(name, {cols, rows});
    if (!type_info(t.type).supported)
        fail("{}: tensor {} has type {}, which sluice cannot compute with yet", desc_.path, name, type_name(t.type));
    const uint8_t* p = bytes(t);
    if (reinterpret_cast<uintptr_t>(p) % element_alignment(t.type) != 0) {
        copies_.emplace_back(p, p + t.bytes);
        p = copies_.back().data();
    }
    const Weight w{t.type, p, rows, cols};
    if (!repack_ || !kernels::can_repack(w)) return w;
    if (!copies_.empty() && p == copies_.back().data()) return kernels::repack_in_place(w);
    copies_.emplace_back(t.bytes);  // mapped: the interleaved copy is ours
    return kernels::repack(w, copies_.back().data());
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
