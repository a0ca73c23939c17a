#!/usr/bin/env bash
# The test command: installs dependencies, sets up llama.cpp as the interop tests' peer
# (tests/interop/setup.sh: ~15 s the first time, a check after) and the official OpenAI client
# for the serve tests (tests/serve/setup.sh: ~5 s the first time), builds (Release), runs every
# test with ctest. Everything it reads is in the clone; the fixtures unpack at build time.
# Usage: scripts/test.sh [--no-deps] [--asan]   (--no-deps skips the system packages only)
set -euo pipefail
cd "$(dirname "$0")/.."
deps=1 asan=0
for a in "$@"; do
    case $a in
        --no-deps) deps=0 ;;
        --asan) asan=1 ;;
        *) echo "usage: scripts/test.sh [--no-deps] [--asan]" >&2; exit 2 ;;
    esac
done
[ $deps = 1 ] && scripts/install-deps.sh
tests/interop/setup.sh
tests/serve/setup.sh
if [ $asan = 1 ]; then
    dir=build-asan
    cmake -S . -B $dir -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE=ON -DSLUICE_BENCH=OFF
else
    dir=build
    cmake -S . -B $dir -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build $dir -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir $dir --output-on-failure -j"$(nproc)" --timeout 900
