#!/usr/bin/env bash
# Run HERE (Debian 12, with apt): downloads the Debian packages sluice builds against, and their
# runtime libraries, into .gpu-deps/, for a GPU machine that has CMake, ninja, g++ and nvcc but
# not these -dev packages. scripts/test-gpu.sh unpacks them there (dpkg -x into a folder, not /).
# Usage: scripts/gpu-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
    # headers, CMake configs, pkg-config files, static gtest
    libfmt-dev nlohmann-json3-dev libcli11-dev liburing-dev libpcre2-dev libutf8proc-dev libedit-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev   # the server's HTTP library; its .pc requires the other three
    # the shared libraries they link, and what those need
    libfmt9 liburing2 libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libutf8proc2 libedit2 libbsd0 libmd0
    libbenchmark1debian libcpp-httplib0.11 libssl3 zlib1g libbrotli1
    libtinfo6
    # pkg-config, in case the GPU machine has none
    pkgconf-bin libpkgconf3
)
mkdir -p .gpu-deps
cd .gpu-deps
rm -f ./*.deb
apt-get download "${packages[@]}"
ls -1 ./*.deb | wc -l | xargs echo "packages in .gpu-deps:"
