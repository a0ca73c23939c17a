// Byte ranges of a file read with pread() into memory of the caller's, for bytes a run copies
// once at load and then keeps (dense weights under a budget, interleaved copies of Q4_K / Q6_K
// weights). Copied from the file's mapping instead, their pages would be faulted into it and stay
// resident beside the copy, and a model that fits in RAM once would be held twice (issue 16).
// Readahead is off, so a read caches only what it asked for, which MappedFile::release() then
// drops.
#pragma once
#include <cstdint>
#include <string>

namespace sluice {

class FileReader {
public:
    explicit FileReader(const std::string& path);   // throws naming the file if it cannot be opened
    ~FileReader();
    FileReader(const FileReader&) = delete;
    FileReader& operator=(const FileReader&) = delete;

    const std::string& path() const { return path_; }
    // Reads [offset, offset + length) into dst; throws naming the file and `what` (a tensor) when
    // the read fails or the file ends first. Safe to call from several threads at once.
    void read(uint64_t offset, uint64_t length, void* dst, const std::string& what) const;

private:
    std::string path_;
    int fd_ = -1;
};

}  // namespace sluice
