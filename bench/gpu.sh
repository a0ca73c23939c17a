#!/usr/bin/env bash
# GPU benchmark (issue 13): `sluice bench --gpu` beside llama.cpp built with CUDA from the source
# the interop peer uses (-ngl 99, flash attention on), on synthetic Qwen3-30B-A3B and
# Qwen3.5-35B-A3B Q4_K files: prefill of 512 and 4,096 tokens and decode, the engines alternated
# (two rounds) because shared machines are noisy, and the roofline: bytes read per decoded token
# (active dense weights + L·K·B_e) over the card's memory bandwidth measured in the same run.
#
# Usage: bench/gpu.sh [WORKDIR]          (default /tmp/sluice-gpu-bench; synth files go there, ~37 GB)
# Environment: SLUICE (default build-cuda/bin/sluice: run scripts/test-gpu.sh first), ARCHS (sm_XX of
#   the llama.cpp build, default 90), LLAMA_PKG (see bench/llama/build_llama_bench.sh), SKIP_LLAMA=1
#   to run sluice only, GEOMETRIES (default "qwen3-30b-a3b qwen3.5-35b-a3b"), KERNELS (default
#   "new": the SLUICE_GPU_KERNELS values sluice runs with, each in every round, e.g. "old new"),
#   CACHE_TYPES (default "f16": the --cache-type values sluice runs with, e.g. "f32 f16 q8_0"),
#   ROUNDS (default 2), TYPES (default q4_k: the `synth --type` recipes, e.g. "q4_k iq2_mix"; llama.cpp
#   runs every file too).
# Prints the machine, then one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/sluice-gpu-bench}
SLUICE=${SLUICE:-build-cuda/bin/sluice}
read -r -a geometries <<<"${GEOMETRIES:-qwen3-30b-a3b qwen3.5-35b-a3b}"
read -r -a kernel_sets <<<"${KERNELS:-new}"
read -r -a cache_types <<<"${CACHE_TYPES:-f16}"
read -r -a types <<<"${TYPES:-q4_k}"
mkdir -p "$work"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nvcc --version | tail -n 1
# The card's memory bandwidth (a 1 GiB device-to-device copy, bytes read + written).
bw=$(build-cuda/bin/cuda_matvec --benchmark_filter=BM_DeviceCopy --benchmark_format=json |
     python3 -c 'import json,sys; print(json.load(sys.stdin)["benchmarks"][0]["bytes_per_second"])')
echo "{\"gpu_memory_bytes_per_s\":$bw}"

llama=""
if [ -z "${SKIP_LLAMA:-}" ]; then
    llama=$(CUDA_ARCHS=${ARCHS:-90} bench/llama/build_llama_bench.sh "$work/llama" | tail -n 1)
fi

for g in "${geometries[@]}"; do
  for type in "${types[@]}"; do
    model=$work/$g-$type.gguf
    [ -f "$model" ] || "$SLUICE" synth --geometry "$g" --type "$type" -o "$model" >&2
    # Bytes read per decoded token: the dense part but the embedding table, and K experts a layer.
    per_token=$("$SLUICE" inspect -m "$model" | python3 -c '
import re, sys
text = sys.stdin.read()
def size(label):
    m = re.search(label + r":\s+([0-9.]+) (B|KiB|MiB|GiB)", text)
    return float(m.group(1)) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[m.group(2)]
print(int(size("dense read per token") + size(r"expert bytes per token \(L\*K\*B_e\)")))')
    echo "{\"model\":\"$g\",\"type\":\"$type\",\"bytes_per_token\":$per_token,\"roofline_decode_tok_s\":$(python3 -c "print(round($bw / $per_token, 1))")}"
    for round in $(seq "${ROUNDS:-2}"); do
        for kernels in "${kernel_sets[@]}"; do
            for cache in "${cache_types[@]}"; do
                for p in "512 64" "4096 16"; do
                    read -r np nd <<<"$p"
                    out=$(SLUICE_GPU_KERNELS=$kernels "$SLUICE" bench -m "$model" --gpu -p "$np" -n "$nd" \
                          --cache-type "$cache" --json)
                    echo "{\"engine\":\"sluice\",\"kernels\":\"$kernels\",\"cache\":\"$cache\",\"model\":\"$g\",\"type\":\"$type\",\"round\":$round,\"prefill\":$np,\"decode\":$nd,\"result\":$out}"
                done
            done
        done
        if [ -n "$llama" ]; then
            "$llama" -m "$model" -ngl 99 -fa 1 -p 512,4096 -n 64 -r 3 -o jsonl |
                sed "s/^/{\"engine\":\"llama.cpp\",\"model\":\"$g\",\"type\":\"$type\",\"round\":$round,\"result\":/; s/\$/}/"
        fi
    done
  done
done
