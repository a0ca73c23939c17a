#!/usr/bin/env bash
# Builds llama.cpp's llama-bench and llama-batched-bench (and, with SERVER=ON, llama-server) from the source that node-llama-cpp
# bundles (a git bundle of the release its prebuilt binaries come from, so the interop peer and
# the benchmark are the same llama.cpp). The npm package ships only shared libraries and a Node
# addon, no executables, hence this build. ~6 min on 2 cores.
#
# Usage: bench/llama/build_llama_bench.sh [DIR]    (default: ${XDG_CACHE_HOME:-~/.cache}/sluice/llama-bench)
#   Needs tests/interop/setup.sh to have run, plus git, cmake, ninja and a C++ compiler.
#   Source goes to DIR/src, the build to DIR/build; nothing is written into the repository.
#   Environment: JOBS (default nproc), NATIVE (default ON: -march=native, like a local llama.cpp build),
#   CUDA_ARCHS (e.g. 90: a CUDA build for those sm_XX, as bench/gpu.sh needs; default: CPU only),
#   LLAMA_PKG (the folder holding gitRelease.bundle and patches/; default node-llama-cpp's, from
#   tests/interop/setup.sh — a GPU machine without npm gets a copy of that folder),
#   SERVER (default OFF: ON builds llama-server too, for bench/serve.sh, without its web UI, which
#   would need npm or a download; a few minutes more).
# Prints the path of llama-bench on the last stdout line (llama-batched-bench and llama-server lie beside it).
# Rerunning reuses the build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/llama-bench}
pkg=${LLAMA_PKG:-$repo/tests/interop/node_modules/node-llama-cpp/llama}
bundle=$pkg/gitRelease.bundle
[ -f "$bundle" ] || { echo "build_llama_bench: $bundle missing: run tests/interop/setup.sh first" >&2; exit 1; }
for tool in git cmake ninja; do
    command -v $tool >/dev/null || { echo "build_llama_bench: $tool not found" >&2; exit 1; }
done

mkdir -p "$dir"
src=$dir/src
if [ ! -d "$src/.git" ]; then
    rm -rf "$src"
    git -c advice.detachedHead=false clone --quiet "$bundle" "$src" >&2
    # node-llama-cpp patches the source before building its binaries; do the same.
    for patch in "$pkg"/patches/*.diff; do
        [ -f "$patch" ] && git -C "$src" apply "$patch"
    done
fi

cuda=()
[ -n "${CUDA_ARCHS:-}" ] && cuda=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS")
server=${SERVER:-OFF}
targets=(llama-bench llama-batched-bench llama-perplexity)
[ "$server" = ON ] && targets+=(llama-server)
cmake -S "$src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE="${NATIVE:-ON}" "${cuda[@]}" \
      -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER="$server" \
      -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$dir/build" --target "${targets[@]}" -j "${JOBS:-$(nproc)}" >&2
echo "$dir/build/bin/llama-bench"
