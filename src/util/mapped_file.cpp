#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

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
    fd_ = fd;
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
    if (fd_ >= 0) ::close(fd_);
}

const uint8_t* MappedFile::range(uint64_t offset, uint64_t length, const std::string& what) const {
    if (offset > size_ || length > size_ - offset)
        fail("{}: {} spans bytes [{}, {}) but the file has only {} bytes (truncated?)", path_, what, offset,
             offset + length, size_);
    return data_ + offset;
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
    if (in_memory_ || length == 0) return;
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    uint64_t begin = offset, end = offset + length;
    {
        // Merged with the released ranges it touches: a page that this range and one released
        // before share only partly can go now.
        std::lock_guard lock(released_mutex_);
        auto next = released_.lower_bound(begin);
        if (next != released_.end() && next->first == end) {
            end = next->second;
            next = released_.erase(next);
        }
        if (next != released_.begin() && std::prev(next)->second == begin) {
            --next;
            begin = next->first;
            released_.erase(next);
        }
        released_[begin] = end;
    }
    // Out of the mapping: the pages this range touches that lie wholly inside the merged range.
    const uint64_t from = std::max(begin, offset / page * page);
    const uint64_t to = std::min(end, (offset + length + page - 1) / page * page);
    const uint64_t first_page = (from + page - 1) / page * page, end_page = to / page * page;
    if (first_page < end_page)
        ::madvise(const_cast<uint8_t*>(data_) + first_page, end_page - first_page, MADV_DONTNEED);
    // Out of the page cache: the whole merged range, since the kernel drops only the folios lying
    // wholly inside the range it is given, none that a process maps, and a large folio (up to
    // megabytes, as readahead makes them) spans many tensors' bytes. Pages dropped before cost
    // nothing to walk over again.
    ::posix_fadvise(fd_, off_t(begin), off_t(end - begin), POSIX_FADV_DONTNEED);
}

}  // namespace sluice
