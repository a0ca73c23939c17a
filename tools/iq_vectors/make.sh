#!/usr/bin/env bash
# Builds make_iq_vectors and requantize_gguf against llama.cpp's ggml (node-llama-cpp's
# libggml-base.so, headers from the source bundle beside it), then rewrites tests/data/iq:
#   <type>.bin            blocks llama.cpp wrote and its dequantised floats (make_iq_vectors.cpp);
#   tiny-<type>.gguf      a one-layer synthetic model (tiny-config.json, `sluice synth --type f32
#                         --seed 3`) with its 2-D weights quantised by llama.cpp to iq3_xxs / iq1_m.
# Needs tests/interop/setup.sh and a built sluice (SLUICE, default build/bin/sluice).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
sluice=${SLUICE:-$repo/build/bin/sluice}
pkg=$repo/tests/interop/node_modules/node-llama-cpp/llama
lib=$repo/tests/interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -c advice.detachedHead=false clone --quiet "$pkg/gitRelease.bundle" "$work/llama"
for tool in make_iq_vectors requantize_gguf; do
    g++ -std=c++17 -O1 -I "$work/llama/ggml/include" "$repo/tools/iq_vectors/$tool.cpp" \
        -L "$lib" -lggml-base -Wl,-rpath,"$lib" -o "$work/$tool"
done
out=$repo/tests/data/iq
mkdir -p "$out"
"$work/make_iq_vectors" "$out"
"$sluice" synth --geometry "$out/tiny-config.json" --type f32 --seed 3 -o "$work/tiny-f32.gguf"
for type in iq3_xxs iq1_m; do
    "$work/requantize_gguf" "$work/tiny-f32.gguf" "$out/tiny-$type.gguf" "$type"
done
