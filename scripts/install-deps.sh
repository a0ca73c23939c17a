#!/usr/bin/env bash
# Installs what sluice needs to build and test on Debian 12 / Ubuntu (see README, "Dependencies").
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "install-deps: apt-get update failed; using the cached package lists" >&2
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake ninja-build pkg-config git \
    libgtest-dev libgmock-dev libbenchmark-dev \
    liburing-dev nlohmann-json3-dev libcli11-dev libfmt-dev \
    libpcre2-dev libutf8proc-dev libcpp-httplib-dev libedit-dev
# Node.js and npm run llama.cpp (node-llama-cpp) as the interop peer; machines with
# NodeSource's nodejs already have npm, which conflicts with Debian's npm package.
if ! command -v npm >/dev/null; then
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
