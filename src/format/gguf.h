// GGUF v2/v3 reader (model-spec §C.1): metadata key/values, tensor infos, data offsets.
// The file is mapped; tensor bytes are referenced in place, never copied here.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "quant/types.h"
#include "util/mapped_file.h"

namespace sluice {

enum class GgufValueType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
    U64 = 10, I64 = 11, F64 = 12,
};

struct GgufValue;
struct GgufArray {
    GgufValueType elem_type;
    std::vector<GgufValue> items;
};

// One metadata value. Integers are widened to 64 bits, floats to double; `type` keeps the
// stored type so a writer can reproduce it.
struct GgufValue {
    GgufValueType type = GgufValueType::U32;
    std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value;

    bool is_integer() const;
    int64_t as_int(const std::string& key) const;        // throws naming `key` when not an integer
    double as_float(const std::string& key) const;       // integers convert
    bool as_bool(const std::string& key) const;
    const std::string& as_string(const std::string& key) const;
    const GgufArray& as_array(const std::string& key) const;
};

struct GgufTensorInfo {
    std::string name;
    std::vector<int64_t> ne;   // innermost first
    GgmlType type;
    uint64_t offset;           // absolute offset in the file
    uint64_t bytes;
};

class GgufFile {
public:
    // Parses and validates the header; throws naming the file and what is wrong.
    explicit GgufFile(const std::string& path);

    const std::string& path() const { return file_->path(); }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(const std::string& name) const;
    std::shared_ptr<MappedFile> mapped() const { return file_; }

    const GgufValue* find(const std::string& key) const;
    const GgufValue& get(const std::string& key) const;   // throws "missing metadata key"

private:
    void check_no_overlap() const;

    std::shared_ptr<MappedFile> file_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::map<std::string, GgufValue> metadata_;
    std::vector<GgufTensorInfo> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

}  // namespace sluice
