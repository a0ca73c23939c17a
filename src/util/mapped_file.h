// A read-only memory mapping of a whole file. Tensor data of the dense part is used in place.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice {

class MappedFile {
public:
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::string& path() const { return path_; }
    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }

    // Throws naming the file when [offset, offset + length) is not inside it.
    const uint8_t* range(uint64_t offset, uint64_t length, const std::string& what) const;

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace sluice
