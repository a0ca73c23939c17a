#!/usr/bin/env bash
# Streaming benchmark (issue: expert streaming): sluice vs llama.cpp on the same synthetic model,
# under memory caps that include the page cache (tools/memcap), cold and warm.
#
# Usage: bench/stream.sh MODEL.gguf [CAPS...]      e.g. bench/stream.sh /data/q3-30b.gguf none 8G 4G
#   Environment: SLUICE (default build/bin/sluice), SKIP_LLAMA=1 to run sluice only,
#   LLAMA_CAPPED_DECODE (llama.cpp's decode steps under a cap, default 8), ROUTING (sluice's
#   routings, default "router uniform": the model's router, and K experts drawn uniformly per
#   token as a trained model's spread routing would need; a random-weight router sends almost
#   every token to the same few experts, so the cache hits ~99% and hides the disk).
#   Both engines prefill 64 random tokens and decode 32 (llama.cpp through bench/llama/decode_tps.sh,
#   built by bench/llama/build_llama_bench.sh; under a cap with --no-repack and -lm mmap, else its
#   repacked weights are anonymous memory and the cap kills it).
# Prints one JSON line per run: engine, cap, cache (cold|warm), memcap's peak and the engine's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; shift
caps=("$@"); [ ${#caps[@]} -gt 0 ] || caps=(none 8G 4G)
SLUICE=${SLUICE:-build/bin/sluice}
read -r -a routings <<<"${ROUTING:-router uniform}"
memcap=tools/memcap

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

# The roofline in sluice's figures uses the disk and memory bandwidth of this run (DESIGN.md §8).
"$SLUICE" inspect -m "$model" --probe | grep '^measured:' >&2

for cap in "${caps[@]}"; do
    mem_args=()
    [ "$cap" = none ] || mem_args=(--mem "$(budget_for "$cap")")
    for routing in "${routings[@]}"; do
        for cache in cold warm; do
            [ $cache = cold ] && drop_cache
            out=$(run_capped "$cap" "$SLUICE" bench -m "$model" -p 64 -n 32 "${mem_args[@]}" --routing "$routing" --json 2>/tmp/stream-err || true)
            peak=$(grep -o 'peak MiB=[0-9]*' /tmp/stream-err | cut -d= -f2 || true)
            echo "{\"engine\":\"sluice\",\"routing\":\"$routing\",\"cap\":\"$cap\",\"cache\":\"$cache\",\"memcap_peak_mib\":${peak:-null},\"result\":${out:-null}}"
        done
    done
    [ -n "${SKIP_LLAMA:-}" ] && continue
    # Under a cap llama.cpp pages its mapped weights in and out at ~0.1 tok/s: 8 steps measure that.
    repack=() decode=32; [ "$cap" = none ] || { repack=(--no-repack); decode=${LLAMA_CAPPED_DECODE:-8}; }
    for cache in cold warm; do
        [ $cache = cold ] && drop_cache
        out=$(DECODE=$decode run_capped "$cap" bench/llama/decode_tps.sh "$model" "${repack[@]}" 2>/tmp/stream-err || true)
        peak=$(grep -o 'peak MiB=[0-9]*' /tmp/stream-err | cut -d= -f2 || true)
        echo "{\"engine\":\"llama.cpp\",\"routing\":\"router\",\"cap\":\"$cap\",\"cache\":\"$cache\",\"memcap_peak_mib\":${peak:-null},\"result\":${out:-null}}"
    done
done
