#!/usr/bin/env bash
# The main job in one command: installs dependencies, builds sluice, and has the shipped demo
# model (models/demo-moe-11m.gguf, trained on Austen and the Bible) write a continuation (sampled
# at temperature 0.8, seed 1: greedy decoding of so small a model soon repeats itself) with
# its experts streamed from the file into a cache that holds a quarter of them, then prints the
# statistics. Under tools/memcap (root and a memory cgroup) the peak memory, page cache
# included, is measured against the budget.
# Usage: scripts/demo.sh [--no-deps] [PROMPT]
set -euo pipefail
cd "$(dirname "$0")/.."
deps=1
[ "${1:-}" = "--no-deps" ] && { deps=0; shift; }
prompt=${1:-It was a fine morning, and Elizabeth}
[ $deps = 1 ] && scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sluice

sluice=build/bin/sluice
model=models/demo-moe-11m.gguf
ctx=256
# With a 256-token context this budget leaves 32 expert slots: 25% of the 128 experts.
budget=47500000
plan=$("$sluice" inspect -m $model --mem $budget -c $ctx)
echo
echo "model:  $model, $(stat -c %s $model) bytes ($(echo "$plan" | sed -n 's/^dense part: *//p') dense," \
     "$(echo "$plan" | sed -n 's/^experts: *//p') experts)"
echo "budget: --mem $budget bytes. It is larger than the model, and must be: the planner's fixed"
echo "        overhead reserve (24 MiB, below) alone is more than this 9 MB model, so no budget"
echo "        smaller than the model can be planned for it. What the demo shows is the streaming:"
echo "        the expert cache holds a quarter of the experts, the others are read from the file"
echo "        when a token's router chooses them."
echo "$plan" | sed -n '/^memory budget/,/^expected hit rate/p' | sed 's/^/        /'
echo
run=("$sluice" run -m $model -p "$prompt" -n 120 -c $ctx --mem $budget --temp 0.8 --seed 1 --stats)
# memcap exits 2 before running anything where it cannot create a cgroup.
if tools/memcap 64M true 2>/dev/null; then
    echo "running under tools/memcap $budget (a cgroup limit counting the page cache):"
    run=(tools/memcap $budget "${run[@]}")
else
    echo "(tools/memcap needs root and a memory cgroup: running without the cgroup limit)"
fi
stats=$(mktemp)
trap 'rm -f "$stats"' EXIT
echo
printf '%s' "$prompt"
"${run[@]}" 2>"$stats" || { cat "$stats" >&2; exit 1; }
printf '\n\n'
cat "$stats"
