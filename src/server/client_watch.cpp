#include "server/client_watch.h"

#include <arpa/inet.h>
#include <cerrno>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>

namespace sluice::server {

namespace {
int port_of(const sockaddr_storage& a) {
    if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
    if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
    return -1;
}
}  // namespace

ClientWatch::ClientWatch(int local_port, int remote_port) {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return;
    while (dirent* e = readdir(dir)) {
        char* end = nullptr;
        const long fd = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0') continue;
        struct stat st {};
        if (fstat(int(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        sockaddr_storage local{}, peer{};
        socklen_t ll = sizeof local, pl = sizeof peer;
        if (getsockname(int(fd), reinterpret_cast<sockaddr*>(&local), &ll) != 0 ||
            getpeername(int(fd), reinterpret_cast<sockaddr*>(&peer), &pl) != 0)
            continue;
        if (port_of(local) == local_port && port_of(peer) == remote_port) {
            fd_ = int(fd);
            break;
        }
    }
    closedir(dir);
}

bool ClientWatch::gone() const {
    if (fd_ < 0) return false;
    char byte;
    const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;   // orderly shutdown by the peer
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace sluice::server
