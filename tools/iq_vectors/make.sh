#!/usr/bin/env bash
# Builds make_iq_vectors against llama.cpp's ggml (node-llama-cpp's libggml-base.so, headers from
# the source bundle beside it) and rewrites tests/data/iq/*.bin. Needs tests/interop/setup.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
pkg=$repo/tests/interop/node_modules/node-llama-cpp/llama
lib=$repo/tests/interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -c advice.detachedHead=false clone --quiet "$pkg/gitRelease.bundle" "$work/llama"
g++ -std=c++17 -O1 -I "$work/llama/ggml/include" "$repo/tools/iq_vectors/make_iq_vectors.cpp" \
    -L "$lib" -lggml-base -Wl,-rpath,"$lib" -o "$work/make_iq_vectors"
mkdir -p "$repo/tests/data/iq"
"$work/make_iq_vectors" "$repo/tests/data/iq"
