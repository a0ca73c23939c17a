#!/usr/bin/env bash
# The main job in one command: installs dependencies, builds sluice, generates a small
# random-weight MoE model (1.6 GB, Qwen3-MoE layout), and generates from it with a memory
# budget of 360 MiB, streaming the experts from disk. Prints the tokens and the statistics.
# Usage: scripts/demo.sh [--no-deps] [WORKDIR]   (WORKDIR defaults to ./demo)
set -euo pipefail
cd "$(dirname "$0")/.."
deps=1
[ "${1:-}" = "--no-deps" ] && { deps=0; shift; }
work=${1:-demo}
[ $deps = 1 ] && scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sluice
mkdir -p "$work"
model=$work/synth-moe-bf16.gguf
[ -f "$model" ] || build/bin/sluice synth --geometry tests/data/synth-moe-config.json --type bf16 -o "$model"
echo "model: $model ($(du -h "$model" | cut -f1)); memory budget: 360M"
build/bin/sluice inspect -m "$model" --mem 360M -c 256 | sed -n '/^memory budget/,$p'
build/bin/sluice run -m "$model" --tokens 1,2,3,4,5,6,7,8 -n 32 --temp 0.8 --seed 1 --mem 360M -c 256 --ids --stats
