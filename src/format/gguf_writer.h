// GGUF v3 writer. Tensor data is produced row range by row range through a callback and written
// sequentially, so multi-gigabyte files are written without holding them in memory.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "format/gguf.h"

namespace sluice {

class GgufWriter {
public:
    // fill(dst, first_row, n_rows) writes rows [first_row, first_row + n_rows) of the tensor
    // (a row = ne[0] values) into dst.
    using RowFiller = std::function<void(uint8_t* dst, int64_t first_row, int64_t n_rows)>;
    // progress(bytes_written, total_bytes)
    using Progress = std::function<void(uint64_t, uint64_t)>;

    explicit GgufWriter(uint64_t alignment = 32) : alignment_(alignment) {}

    void set(const std::string& key, GgufValue value);
    void set_u32(const std::string& key, uint32_t v) { set(key, {GgufValueType::U32, uint64_t(v)}); }
    void set_i32(const std::string& key, int32_t v) { set(key, {GgufValueType::I32, int64_t(v)}); }
    void set_f32(const std::string& key, float v) { set(key, {GgufValueType::F32, double(v)}); }
    void set_bool(const std::string& key, bool v) { set(key, {GgufValueType::BOOL, v}); }
    void set_string(const std::string& key, const std::string& v) { set(key, {GgufValueType::STRING, v}); }
    void set_strings(const std::string& key, const std::vector<std::string>& v);
    void set_i32s(const std::string& key, const std::vector<int32_t>& v);

    void add_tensor(const std::string& name, std::vector<int64_t> ne, GgmlType type, RowFiller fill);

    // Writes the whole file (as PATH.part, renamed when complete); throws naming the path on I/O
    // errors, and then leaves no file behind.
    void write(const std::string& path, const Progress& progress = {}) const;

private:
    struct Pending {
        std::string name;
        std::vector<int64_t> ne;
        GgmlType type;
        RowFiller fill;
        uint64_t bytes;
        uint64_t offset;
    };
    uint64_t alignment_;
    std::vector<std::pair<std::string, GgufValue>> kv_;
    std::vector<Pending> tensors_;
    uint64_t data_size_ = 0;
};

}  // namespace sluice
