// A read-only memory mapping of a whole file. Tensor data of the dense part is used in place.
// A model whose tensors must be rewritten before use (gpt-oss's experts in the Hugging Face
// layouts) keeps the rewritten bytes in an in-memory stand-in for a file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
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

    // Bytes the run has copied (util/file_reader.h) and will not read here again: the pages lying
    // wholly inside the ranges released so far leave this mapping (MADV_DONTNEED: a later access
    // would read them from the file again) and the page cache (POSIX_FADV_DONTNEED), so the copy
    // is the only one in memory. A page shared with bytes still used in place stays. Thread-safe.
    void release(uint64_t offset, uint64_t length) const;

private:
    MappedFile() = default;
    std::string path_;
    bool in_memory_ = false;
    std::vector<uint8_t> owned_;   // in_memory's bytes
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
    int fd_ = -1;   // kept for release()'s fadvise
    mutable std::mutex released_mutex_;
    mutable std::map<uint64_t, uint64_t> released_;   // begin → end of the released ranges, merged
};

}  // namespace sluice
