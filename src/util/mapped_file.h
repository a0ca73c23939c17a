// A read-only memory mapping of a whole file. Tensor data of the dense part is used in place.
// A model whose tensors must be rewritten before use (gpt-oss's experts in the Hugging Face
// layouts) keeps the rewritten bytes in an in-memory stand-in for a file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice {

class MappedFile {
public:
    explicit MappedFile(const std::string& path);
    // Bytes held in memory under a name (for messages); there is no file to read them from.
    static std::shared_ptr<MappedFile> in_memory(std::string name, std::vector<uint8_t> bytes);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::string& path() const { return path_; }
    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    bool is_in_memory() const { return in_memory_; }

    // Throws naming the file when [offset, offset + length) is not inside it.
    const uint8_t* range(uint64_t offset, uint64_t length, const std::string& what) const;

private:
    MappedFile() = default;
    std::string path_;
    bool in_memory_ = false;
    std::vector<uint8_t> owned_;   // in_memory's bytes
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace sluice
