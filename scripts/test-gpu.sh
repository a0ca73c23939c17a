#!/usr/bin/env bash
# The GPU test command: configures a CUDA build in build-cuda, builds the GPU tests and runs them
# (tests/cuda: every kernel against the CPU references; tests/kernels/cuda_*: the same arithmetic
# emulated on the CPU; tests/gpu: every model fixture's logits
# and greedy tokens with --gpu against the CPU path and the references), then the matvec
# micro-benchmark (GB/s) when Google Benchmark is there. On a machine without sluice's -dev packages, first run
# scripts/gpu-deps.sh on a Debian 12 machine and copy .gpu-deps/ along: the packages are
# unpacked into build-cuda/deps-root and CMake and pkg-config look there.
# Usage: scripts/test-gpu.sh [extra ctest arguments]
# Environment: CUDACXX (default: nvcc on PATH), SLUICE_CUDA_ARCHS (default: 80;86;89;90).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-cuda
nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
args=(-S . -B $dir -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_CUDA=ON
      -DCMAKE_CUDA_COMPILER="$nvcc" -DSLUICE_CUDA_ARCHS="${SLUICE_CUDA_ARCHS:-80;86;89;90}")

if compgen -G ".gpu-deps/*.deb" >/dev/null; then
    root=$PWD/$dir/deps-root
    rm -rf "$root"
    mkdir -p "$root"
    for deb in .gpu-deps/*.deb; do
        if command -v dpkg >/dev/null; then
            dpkg -x "$deb" "$root"
        else  # a .deb is an ar archive holding data.tar.xz
            ar p "$deb" data.tar.xz | tar -xJ -C "$root"
        fi
    done
    arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    libs=$root/usr/lib/$arch:$root/lib/$arch
    # The .pc files say /usr/...: the sysroot puts every path they give under $root, and
    # PKG_CONFIG_LIBDIR keeps the machine's own .pc files out.
    export PKG_CONFIG_LIBDIR=$root/usr/lib/$arch/pkgconfig:$root/usr/share/pkgconfig
    export PKG_CONFIG_SYSROOT_DIR=$root
    pkgconfig=$(command -v pkg-config || true)
    if [ -z "$pkgconfig" ]; then
        pkgconfig=$root/pkg-config
        printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$libs" "$root/usr/bin/pkgconf" >"$pkgconfig"
        chmod +x "$pkgconfig"
    fi
    # The build's RPATH finds the unpacked libraries (test discovery runs the binaries while
    # building); LD_LIBRARY_PATH, for the tests only (not the tools), what those load in turn.
    args+=(-DCMAKE_PREFIX_PATH="$root/usr" -DPKG_CONFIG_EXECUTABLE="$pkgconfig" -DCMAKE_BUILD_RPATH="${libs//:/;}")
    test_libs=$libs
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$nvcc" --version | tail -n 2
cmake "${args[@]}"
targets=(test_cuda test_gpu test_kernels sluice)   # test_kernels: the CPU checks of the GPU arithmetic (Cuda*)
grep -q "^build bin/cuda_matvec:" $dir/build.ninja && targets+=(cuda_matvec)  # with Google Benchmark
cmake --build $dir -j"$(nproc)" --target "${targets[@]}"
export LD_LIBRARY_PATH=${test_libs:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
ctest --test-dir $dir -R '^(Cuda|Gpu)' --output-on-failure "$@"
if [ -x $dir/bin/cuda_matvec ]; then $dir/bin/cuda_matvec; fi
