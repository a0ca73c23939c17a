// Notices that an HTTP client went away while its request still runs. cpp-httplib 0.11 tells a
// handler neither the connection's socket nor that it closed (a streamed reply learns it only when
// a write fails), so the socket is found by its two ports among the process's descriptors, and
// polled: end-of-file from the peer means it is gone.
#pragma once
#include <string>

namespace sluice::server {

class ClientWatch {
public:
    ClientWatch(int local_port, int remote_port);
    // True once the peer has closed its side (or reset the connection); false when unknown.
    bool gone() const;

private:
    int fd_ = -1;
};

}  // namespace sluice::server
