#!/usr/bin/env bash
# Compile-only check of the CUDA sources (src/cuda, src/gpu) on a machine without a GPU, as CI
# runs it: with Debian 12's CUDA 11.8 (`nvidia-cuda-toolkit`, in the non-free component), the
# oldest toolkit sluice supports, so C++17-only .cu code and older-nvcc quirks are caught before
# a GPU machine sees them. Installs the toolkit when no nvcc is given and none is at /usr/bin/nvcc;
# if that install fails or outlasts INSTALL_TIMEOUT (a large download), it says so and exits 0:
# the check is then skipped, not passed. A compile error always fails.
# Usage: scripts/cuda-compile-check.sh
# Environment: NVCC (an nvcc to use instead; CUDACXX is left to the other builds, which CI runs
#   with CUDA off), SLUICE_CUDA_ARCHS (default 80: one arch keeps it
#   short; every sm_XX compiles the same source), INSTALL_TIMEOUT (seconds, default 1200).
set -euo pipefail
cd "$(dirname "$0")/.."
nvcc=${NVCC:-}
install_toolkit() {
    local sudo="" f
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
    # nvidia-cuda-toolkit is in non-free: add contrib and non-free to the Debian sources.
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        [ -f "$f" ] || continue
        if [[ $f == *.sources ]]; then
            $sudo sed -i -E '/^Components:/{/non-free( |$)/!s/$/ contrib non-free/}' "$f" || return 1
        else
            $sudo sed -i -E '/^deb .* main/{/non-free( |$)/!s/$/ contrib non-free/}' "$f" || return 1
        fi
    done
    timeout "${INSTALL_TIMEOUT:-1200}" bash -c "$sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit" >&2
}
if [ -z "$nvcc" ] && [ ! -x /usr/bin/nvcc ] && ! install_toolkit; then
    echo "cuda-compile-check: SKIPPED: nvidia-cuda-toolkit did not install (non-free component unreachable or too slow)"
    exit 0
fi
nvcc=${nvcc:-/usr/bin/nvcc}
# nvcc runs ptxas and cicc from PATH: another toolkit earlier on it (/usr/local/cuda) would be mixed in.
export PATH="$(dirname "$nvcc"):$PATH"
echo "cuda-compile-check: $("$nvcc" --version | tail -n 1)"
# CUDA 11.8's host-compiler check stops at g++ 11; Debian 12's g++ 12 compiles its headers fine.
flags=()
if "$nvcc" --version | grep -q "release 11\."; then
    flags=(-DCMAKE_CUDA_HOST_COMPILER=/usr/bin/g++ -DCMAKE_CUDA_FLAGS=-allow-unsupported-compiler)
fi
cmake -S . -B build-cuda-check -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_CUDA=ON -DSLUICE_TESTS=OFF \
      -DSLUICE_BENCH=OFF -DCMAKE_CUDA_COMPILER="$nvcc" -DSLUICE_CUDA_ARCHS="${SLUICE_CUDA_ARCHS:-80}" "${flags[@]}" >/dev/null
# The kernels and the CUDA backend: compiled, not linked into a program (nothing here can run them).
cmake --build build-cuda-check --target sluice_cuda sluice_gpu -j "$(nproc)"
echo "cuda-compile-check: the CUDA sources compile"
