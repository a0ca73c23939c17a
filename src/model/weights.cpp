#include "model/weights.h"

#include <cstring>

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

Weight DenseWeights::matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorRef& t = desc_.require(name, {cols, rows});
    if (!type_info(t.type).supported)
        fail("{}: tensor {} has type {}, which sluice cannot compute with yet", desc_.path, name, type_name(t.type));
    const uint8_t* p = desc_.data(t);
    if (reinterpret_cast<uintptr_t>(p) % element_alignment(t.type) != 0) {
        copies_.emplace_back(p, p + t.bytes);
        p = copies_.back().data();
    }
    return Weight{t.type, p, rows, cols};
}

std::vector<float> DenseWeights::floats(const std::string& name, const std::vector<int64_t>& ne) {
    const TensorRef& t = desc_.require(name, ne);
    int64_t n = 1;
    for (int64_t d : t.ne) n *= d;
    if (!type_info(t.type).supported)
        fail("{}: tensor {} has type {}, which sluice cannot compute with yet", desc_.path, name, type_name(t.type));
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row_ref(t.type, desc_.data(t), out.data(), n);
    return out;
}

std::vector<float> DenseWeights::vector(const std::string& name, int64_t n) { return floats(name, {n}); }

}  // namespace sluice
