#include "format/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "util/error.h"

namespace sluice {

namespace {

constexpr uint64_t kChunkBytes = 64ull << 20;  // rows are produced in pieces of about this size

// The file is written as PATH.part and renamed to PATH once complete, so that a write that fails
// (a full disk, say) or is interrupted never leaves a truncated file under the model's name:
// a truncated GGUF can still parse, and only fail, or read zeros, much later.
class Output {
public:
    explicit Output(const std::string& path)
        : path_(path), part_(path + ".part"), f_(std::fopen(part_.c_str(), "wb")) {
        if (!f_) fail("{}: cannot create: {}", part_, std::strerror(errno));
    }
    ~Output() {
        if (!f_) return;
        std::fclose(f_);          // not finished: an error is on its way
        std::remove(part_.c_str());
    }
    void bytes(const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, f_) != n) fail("{}: write failed: {}", path_, std::strerror(errno));
        pos_ += n;
    }
    template <typename T>
    void pod(T v) { bytes(&v, sizeof v); }
    void string(const std::string& s) {
        pod<uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void pad_to(uint64_t alignment) {
        static const uint8_t zeros[256] = {};
        uint64_t pad = (alignment - pos_ % alignment) % alignment;
        while (pad) {
            uint64_t n = std::min<uint64_t>(pad, sizeof zeros);
            bytes(zeros, size_t(n));
            pad -= n;
        }
    }
    // Completes the file: flushed, closed and renamed to its name.
    void finish() {
        const bool closed = std::fclose(f_) == 0;
        f_ = nullptr;
        if (!closed || std::rename(part_.c_str(), path_.c_str()) != 0) {
            const int err = errno;
            std::remove(part_.c_str());
            fail("{}: write failed on close: {}", path_, std::strerror(err));
        }
    }
    uint64_t pos() const { return pos_; }

private:
    std::string path_, part_;
    FILE* f_;
    uint64_t pos_ = 0;
};

void write_value(Output& out, const GgufValue& v) {
    switch (v.type) {
        case GgufValueType::U8: out.pod<uint8_t>(uint8_t(v.as_int(""))); break;
        case GgufValueType::I8: out.pod<int8_t>(int8_t(v.as_int(""))); break;
        case GgufValueType::U16: out.pod<uint16_t>(uint16_t(v.as_int(""))); break;
        case GgufValueType::I16: out.pod<int16_t>(int16_t(v.as_int(""))); break;
        case GgufValueType::U32: out.pod<uint32_t>(uint32_t(v.as_int(""))); break;
        case GgufValueType::I32: out.pod<int32_t>(int32_t(v.as_int(""))); break;
        case GgufValueType::U64: out.pod<uint64_t>(uint64_t(v.as_int(""))); break;
        case GgufValueType::I64: out.pod<int64_t>(v.as_int("")); break;
        case GgufValueType::F32: out.pod<float>(float(v.as_float(""))); break;
        case GgufValueType::F64: out.pod<double>(v.as_float("")); break;
        case GgufValueType::BOOL: out.pod<uint8_t>(v.as_bool("") ? 1 : 0); break;
        case GgufValueType::STRING: out.string(v.as_string("")); break;
        case GgufValueType::ARRAY: {
            const GgufArray& a = v.as_array("");
            out.pod<uint32_t>(uint32_t(a.elem_type));
            out.pod<uint64_t>(a.items.size());
            for (const auto& item : a.items) write_value(out, item);
            break;
        }
    }
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
    for (auto& kv : kv_)
        if (kv.first == key) {
            kv.second = std::move(value);
            return;
        }
    kv_.emplace_back(key, std::move(value));
}

void GgufWriter::set_strings(const std::string& key, const std::vector<std::string>& v) {
    GgufArray a{GgufValueType::STRING, {}};
    a.items.reserve(v.size());
    for (const auto& s : v) a.items.push_back({GgufValueType::STRING, s});
    set(key, {GgufValueType::ARRAY, std::move(a)});
}

void GgufWriter::set_i32s(const std::string& key, const std::vector<int32_t>& v) {
    GgufArray a{GgufValueType::I32, {}};
    a.items.reserve(v.size());
    for (int32_t x : v) a.items.push_back({GgufValueType::I32, int64_t(x)});
    set(key, {GgufValueType::ARRAY, std::move(a)});
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, RowFiller fill) {
    int64_t rows = 1;
    for (size_t d = 1; d < ne.size(); ++d) rows *= ne[d];
    uint64_t bytes = row_bytes(type, ne[0]) * uint64_t(rows);
    tensors_.push_back({name, std::move(ne), type, std::move(fill), bytes, data_size_});
    data_size_ += (bytes + alignment_ - 1) / alignment_ * alignment_;
}

void GgufWriter::write(const std::string& path, const Progress& progress) const {
    Output out(path);
    out.pod<uint32_t>(0x46554747);
    out.pod<uint32_t>(3);
    out.pod<uint64_t>(tensors_.size());
    bool has_alignment = false;
    for (const auto& kv : kv_) has_alignment |= kv.first == "general.alignment";
    out.pod<uint64_t>(kv_.size() + (has_alignment || alignment_ == 32 ? 0 : 1));
    for (const auto& [key, value] : kv_) {
        out.string(key);
        out.pod<uint32_t>(uint32_t(value.type));
        write_value(out, value);
    }
    if (!has_alignment && alignment_ != 32) {
        out.string("general.alignment");
        out.pod<uint32_t>(uint32_t(GgufValueType::U32));
        out.pod<uint32_t>(uint32_t(alignment_));
    }
    for (const auto& t : tensors_) {
        out.string(t.name);
        out.pod<uint32_t>(uint32_t(t.ne.size()));
        for (int64_t d : t.ne) out.pod<uint64_t>(uint64_t(d));
        out.pod<uint32_t>(uint32_t(t.type));
        out.pod<uint64_t>(t.offset);
    }
    out.pad_to(alignment_);
    uint64_t data_start = out.pos();

    std::vector<uint8_t> buf;
    for (const auto& t : tensors_) {
        uint64_t rb = row_bytes(t.type, t.ne[0]);
        int64_t rows = int64_t(t.bytes / rb);
        int64_t rows_per_chunk = std::max<int64_t>(1, int64_t(kChunkBytes / rb));
        for (int64_t r = 0; r < rows; r += rows_per_chunk) {
            int64_t n = std::min(rows_per_chunk, rows - r);
            buf.resize(size_t(uint64_t(n) * rb));
            t.fill(buf.data(), r, n);
            out.bytes(buf.data(), buf.size());
            if (progress) progress(out.pos() - data_start, data_size_);
        }
        out.pad_to(alignment_);
    }
    out.finish();
}

}  // namespace sluice
