#include "format/gguf.h"

#include <algorithm>
#include <cstring>

#include "util/limits.h"
#include "util/error.h"

namespace sluice {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr int kMaxArrayDepth = 4;

// A bounds-checked little-endian cursor over the mapped header.
class Cursor {
public:
    Cursor(const MappedFile& f) : f_(f) {}

    template <typename T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, f_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::string read_string(const char* what) {
        uint64_t len = read<uint64_t>(what);
        if (len > limits::kMaxMetadataString)
            fail("{}: {} at offset {} is {} bytes long (the limit is {})", f_.path(), what, pos_ - 8, len,
                 limits::kMaxMetadataString);
        need(len, what);
        std::string s(reinterpret_cast<const char*>(f_.data() + pos_), size_t(len));
        pos_ += len;
        return s;
    }

    uint64_t pos() const { return pos_; }

private:
    void need(uint64_t n, const char* what) {
        if (n > f_.size() || pos_ > f_.size() - n)
            fail("{}: truncated GGUF header: {} needs {} bytes at offset {} but the file has {} bytes", f_.path(), what,
                 n, pos_, f_.size());
    }
    const MappedFile& f_;
    uint64_t pos_ = 0;
};

GgufValue read_value(Cursor& c, GgufValueType type, const std::string& key, const std::string& path, int depth) {
    GgufValue v;
    v.type = type;
    switch (type) {
        case GgufValueType::U8: v.value = uint64_t(c.read<uint8_t>("a u8 value")); break;
        case GgufValueType::I8: v.value = int64_t(c.read<int8_t>("an i8 value")); break;
        case GgufValueType::U16: v.value = uint64_t(c.read<uint16_t>("a u16 value")); break;
        case GgufValueType::I16: v.value = int64_t(c.read<int16_t>("an i16 value")); break;
        case GgufValueType::U32: v.value = uint64_t(c.read<uint32_t>("a u32 value")); break;
        case GgufValueType::I32: v.value = int64_t(c.read<int32_t>("an i32 value")); break;
        case GgufValueType::U64: v.value = c.read<uint64_t>("a u64 value"); break;
        case GgufValueType::I64: v.value = c.read<int64_t>("an i64 value"); break;
        case GgufValueType::F32: v.value = double(c.read<float>("an f32 value")); break;
        case GgufValueType::F64: v.value = c.read<double>("an f64 value"); break;
        case GgufValueType::BOOL: {
            uint8_t b = c.read<uint8_t>("a bool value");
            if (b > 1) fail("{}: metadata {}: bool value {} is not 0 or 1", path, key, b);
            v.value = b == 1;
            break;
        }
        case GgufValueType::STRING: v.value = c.read_string("a string value"); break;
        case GgufValueType::ARRAY: {
            if (depth >= kMaxArrayDepth) fail("{}: metadata {}: arrays nested deeper than {}", path, key, kMaxArrayDepth);
            uint32_t et = c.read<uint32_t>("an array element type");
            if (et > uint32_t(GgufValueType::F64)) fail("{}: metadata {}: unknown array element type {}", path, key, et);
            uint64_t n = c.read<uint64_t>("an array length");
            if (n > limits::kMaxMetadataArray)
                fail("{}: metadata {}: array of {} elements (the limit is {})", path, key, n, limits::kMaxMetadataArray);
            GgufArray arr{GgufValueType(et), {}};
            // Elements take at least one byte each, so a corrupt count fails on the bounds check;
            // cap the reservation so it cannot allocate before that.
            arr.items.reserve(size_t(std::min<uint64_t>(n, 1u << 20)));
            for (uint64_t i = 0; i < n; ++i) arr.items.push_back(read_value(c, GgufValueType(et), key, path, depth + 1));
            v.value = std::move(arr);
            break;
        }
        default: fail("{}: metadata {}: unknown value type {}", path, key, uint32_t(type));
    }
    return v;
}

}  // namespace

bool GgufValue::is_integer() const {
    return std::holds_alternative<uint64_t>(value) || std::holds_alternative<int64_t>(value);
}

int64_t GgufValue::as_int(const std::string& key) const {
    if (auto* u = std::get_if<uint64_t>(&value)) return int64_t(*u);
    if (auto* i = std::get_if<int64_t>(&value)) return *i;
    fail("metadata {}: expected an integer", key);
}

double GgufValue::as_float(const std::string& key) const {
    if (auto* d = std::get_if<double>(&value)) return *d;
    if (is_integer()) return double(as_int(key));
    fail("metadata {}: expected a number", key);
}

bool GgufValue::as_bool(const std::string& key) const {
    if (auto* b = std::get_if<bool>(&value)) return *b;
    fail("metadata {}: expected a bool", key);
}

const std::string& GgufValue::as_string(const std::string& key) const {
    if (auto* s = std::get_if<std::string>(&value)) return *s;
    fail("metadata {}: expected a string", key);
}

const GgufArray& GgufValue::as_array(const std::string& key) const {
    if (auto* a = std::get_if<GgufArray>(&value)) return *a;
    fail("metadata {}: expected an array", key);
}

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
    Cursor c(*file_);
    uint32_t magic = c.read<uint32_t>("the magic number");
    if (magic != kMagic) fail("{}: not a GGUF file (bad magic)", path);
    version_ = c.read<uint32_t>("the version");
    if (version_ != 2 && version_ != 3) fail("{}: unsupported GGUF version {} (expected 2 or 3)", path, version_);
    uint64_t n_tensors = c.read<uint64_t>("the tensor count");
    uint64_t n_kv = c.read<uint64_t>("the metadata count");
    if (n_tensors > limits::kMaxTensors)
        fail("{}: {} tensors (the limit is {})", path, n_tensors, limits::kMaxTensors);
    // Each entry takes several bytes, so counts beyond the file size are corrupt.
    if (n_tensors > file_->size() || n_kv > file_->size())
        fail("{}: corrupt GGUF header: {} tensors and {} metadata entries in a {}-byte file", path, n_tensors, n_kv,
             file_->size());

    for (uint64_t i = 0; i < n_kv; ++i) {
        std::string key = c.read_string("a metadata key");
        uint32_t t = c.read<uint32_t>("a metadata value type");
        if (t > uint32_t(GgufValueType::F64)) fail("{}: metadata {}: unknown value type {}", path, key, t);
        metadata_[key] = read_value(c, GgufValueType(t), key, path, 0);
    }
    if (auto* a = find("general.alignment")) {
        int64_t al = a->as_int("general.alignment");
        if (al <= 0 || al % 8 != 0) fail("{}: general.alignment {} is not a positive multiple of 8", path, al);
        alignment_ = uint64_t(al);
    }

    struct RawInfo {
        std::string name;
        std::vector<int64_t> ne;
        uint32_t type;
        uint64_t offset;
    };
    std::vector<RawInfo> raw;
    raw.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        RawInfo r;
        r.name = c.read_string("a tensor name");
        uint32_t n_dims = c.read<uint32_t>("a tensor's dimension count");
        if (n_dims == 0 || n_dims > 4) fail("{}: tensor {}: {} dimensions (expected 1 to 4)", path, r.name, n_dims);
        for (uint32_t d = 0; d < n_dims; ++d) {
            uint64_t ne = c.read<uint64_t>("a tensor dimension");
            if (ne == 0 || ne > uint64_t(limits::kMaxDimension))
                fail("{}: tensor {}: dimension {} is {} (expected 1 to 2^40)", path, r.name, d, ne);
            r.ne.push_back(int64_t(ne));
        }
        r.type = c.read<uint32_t>("a tensor type");
        r.offset = c.read<uint64_t>("a tensor offset");
        raw.push_back(std::move(r));
    }
    data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;

    for (auto& r : raw) {
        auto info = type_info(r.type);
        if (!info) fail("{}: tensor {}: unknown tensor type id {}", path, r.name, r.type);
        if (r.ne[0] % info->block_size != 0)
            fail("{}: tensor {}: row of {} values is not a multiple of the {} block size {}", path, r.name, r.ne[0],
                 info->name, info->block_size);
        if (r.offset % alignment_ != 0)
            fail("{}: tensor {}: offset {} is not a multiple of the alignment {}", path, r.name, r.offset, alignment_);
        // Every product and sum of sizes read from the file is checked: a wrapped one would make
        // a huge tensor look small enough to fit.
        uint64_t bytes = uint64_t(r.ne[0] / info->block_size) * info->block_bytes;
        for (size_t d = 1; d < r.ne.size(); ++d)
            if (__builtin_mul_overflow(bytes, uint64_t(r.ne[d]), &bytes))
                fail("{}: tensor {}: shape {{{}}} of {} is more than 2^64 bytes", path, r.name, fmt::join(r.ne, ", "),
                     info->name);
        uint64_t start = 0;
        if (__builtin_add_overflow(data_offset_, r.offset, &start) || start > file_->size() ||
            bytes > file_->size() - start)
            fail("{}: tensor {}: {} bytes at offset {} lie past the end of the file ({} bytes); the file is truncated",
                 path, r.name, bytes, r.offset, file_->size());
        if (tensor_index_.count(r.name)) fail("{}: tensor {} appears twice", path, r.name);
        tensor_index_[r.name] = tensors_.size();
        tensors_.push_back({r.name, r.ne, GgmlType(r.type), start, bytes});
    }
    check_no_overlap();
}

// Two tensors sharing bytes would let a write through one (a repack, a conversion) change the
// other, and no writer produces them: refuse such a file.
void GgufFile::check_no_overlap() const {
    std::vector<const GgufTensorInfo*> by_start;
    for (const auto& t : tensors_)
        if (t.bytes > 0) by_start.push_back(&t);
    std::sort(by_start.begin(), by_start.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_start.size(); ++i)
        if (by_start[i]->offset < by_start[i - 1]->offset + by_start[i - 1]->bytes)
            fail("{}: tensors {} and {} overlap at offset {}", path(), by_start[i - 1]->name, by_start[i]->name,
                 by_start[i]->offset);
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? nullptr : &it->second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) fail("{}: missing metadata key {}", path(), key);
    return *v;
}

}  // namespace sluice
