#include "util/file_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace sluice {

FileReader::FileReader(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
    // No readahead: it would pull neighbouring tensors into the page cache, which their release
    // does not cover, or bring back pages another thread has just released.
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM);
}

FileReader::~FileReader() { ::close(fd_); }

void FileReader::read(uint64_t offset, uint64_t length, void* dst, const std::string& what) const {
    auto* out = static_cast<uint8_t*>(dst);
    uint64_t done = 0;
    while (done < length) {
        const ssize_t got = ::pread(fd_, out + done, length - done, off_t(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) fail("{}: reading {} failed: {}", path_, what, std::strerror(errno));
        if (got == 0)
            fail("{}: reading {} failed: the file ends at byte {}, before the {} bytes at offset {}", path_, what,
                 offset + done, length, offset);
        done += uint64_t(got);
    }
}

}  // namespace sluice
