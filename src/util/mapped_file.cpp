#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace sluice {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        fail("{}: cannot stat: {}", path, std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail("{}: not a regular file", path);
    }
    size_ = uint64_t(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            fail("{}: cannot map: {}", path, std::strerror(e));
        }
        data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
}

std::shared_ptr<MappedFile> MappedFile::in_memory(std::string name, std::vector<uint8_t> bytes) {
    std::shared_ptr<MappedFile> f(new MappedFile());
    f->path_ = std::move(name);
    f->in_memory_ = true;
    f->owned_ = std::move(bytes);
    f->data_ = f->owned_.data();
    f->size_ = f->owned_.size();
    return f;
}

MappedFile::~MappedFile() {
    if (data_ && !in_memory_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

const uint8_t* MappedFile::range(uint64_t offset, uint64_t length, const std::string& what) const {
    if (offset > size_ || length > size_ - offset)
        fail("{}: {} spans bytes [{}, {}) but the file has only {} bytes (truncated?)", path_, what, offset,
             offset + length, size_);
    return data_ + offset;
}

}  // namespace sluice
