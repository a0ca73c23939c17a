#!/bin/sh
# Rebuilds tests/data/mxfp4/ggml_vectors.bin with llama.cpp's ggml (tests/interop/setup.sh
# installs it): compiles mxfp4_vectors.cpp against node-llama-cpp's libggml-base.so and runs it.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
lib="$root/tests/interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -O1 -std=c++20 -o "$tmp/mxfp4_vectors" "$root/tools/ggml_vectors/mxfp4_vectors.cpp" -L"$lib" -l:libggml-base.so -Wl,-rpath,"$lib"
"$tmp/mxfp4_vectors" "$root/tests/data/mxfp4/ggml_vectors.bin"
