#!/usr/bin/env bash
# Streaming benchmark (issue: expert streaming): sluice vs llama.cpp on the same synthetic model,
# under memory caps that include the page cache (../shared/tools/memcap), cold and warm.
#
# Usage: bench/stream.sh MODEL.gguf [CAPS...]      e.g. bench/stream.sh /data/q3-30b.gguf none 8G 4G
#   Environment: PROMPT (default 32), DECODE (default 32), SLUICE (default build/bin/sluice),
#   LLAMA_BENCH (a llama-bench binary; default: llama.cpp through tests/interop/llama_bench.mjs,
#   which cannot turn off weight repacking and so is only run uncapped).
# Prints one JSON line per run: engine, cap, cache (cold|warm) and the engine's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; shift
caps=("$@"); [ ${#caps[@]} -gt 0 ] || caps=(none 8G 4G)
PROMPT=${PROMPT:-32} DECODE=${DECODE:-32}
SLUICE=${SLUICE:-build/bin/sluice}
memcap=../shared/tools/memcap
vocab=$($SLUICE inspect -m "$model" | awk '/^vocab/ {print $2+0; exit}' | tr -d ,)

drop_cache() { sync; echo 1 > /proc/sys/vm/drop_caches; }

# Budget for sluice under a cap: the cap less a margin for what the planner does not see.
budget_for() {
    local cap=$1 bytes
    bytes=$(numfmt --from=iec "$cap")
    echo $(( bytes - bytes / 16 ))
}

run_capped() {  # CAP CMD... → prints the command's stdout; memcap's peak goes to stderr
    local cap=$1; shift
    if [ "$cap" = none ]; then "$@"; else $memcap "$cap" "$@"; fi
}

for cap in "${caps[@]}"; do
    mem_args=()
    [ "$cap" = none ] || mem_args=(--mem "$(budget_for "$cap")")
    for cache in cold warm; do
        [ $cache = cold ] && drop_cache
        out=$(run_capped "$cap" "$SLUICE" bench -m "$model" -p "$PROMPT" -n "$DECODE" "${mem_args[@]}" --json 2>/tmp/stream-err || true)
        peak=$(grep -o 'peak MiB=[0-9]*' /tmp/stream-err | cut -d= -f2 || true)
        echo "{\"engine\":\"sluice\",\"cap\":\"$cap\",\"cache\":\"$cache\",\"memcap_peak_mib\":${peak:-null},\"result\":${out:-null}}"
    done
    for cache in cold warm; do
        [ $cache = cold ] && drop_cache
        if [ -n "${LLAMA_BENCH:-}" ]; then
            out=$(run_capped "$cap" "$LLAMA_BENCH" -m "$model" -p "$PROMPT" -n "$DECODE" -t "$(nproc)" --no-repack -mmp 1 -o json 2>/tmp/stream-err || true)
        elif [ "$cap" = none ]; then
            out=$(node tests/interop/llama_bench.mjs "$model" --vocab "$vocab" -p "$PROMPT" -n "$DECODE" 2>/tmp/stream-err || true)
        else
            out='"skipped: needs LLAMA_BENCH for --no-repack under a cap"'
        fi
        peak=$(grep -o 'peak MiB=[0-9]*' /tmp/stream-err | cut -d= -f2 || true)
        echo "{\"engine\":\"llama.cpp\",\"cap\":\"$cap\",\"cache\":\"$cache\",\"memcap_peak_mib\":${peak:-null},\"result\":${out:-null}}"
    done
done
