#!/usr/bin/env bash
# Prefill under a memory budget (issue 17): sluice's prefill of random prompts on MODEL under
# memory caps that include the page cache (tools/memcap), cold (page cache dropped, empty expert
# cache), with bytes read and the prefill hit rate; `none` runs without a cap or budget.
#
# Usage: bench/prefill.sh MODEL.gguf "SIZES" CAPS...     e.g. bench/prefill.sh q3-30b.gguf "512 2048" 8G none
#   Environment: SLUICE (default build/bin/sluice; a list of binaries runs each in turn for every
#   case, so runs of two builds alternate on a loaded machine), ROUTING (default uniform: K experts
#   drawn uniformly per token, a trained model's spread routing; a random-weight router sends
#   nearly every token to the same few experts), EXTRA (more sluice bench flags, e.g. --ubatch 256).
#   LLAMA_BATCHED_BENCH (llama-batched-bench from bench/llama/build_llama_bench.sh): after sluice's
#   runs of each case, llama.cpp's prefill of the same size under the same cap (cold, mmap inside
#   the cap, --no-repack: its repacked copy of the weights would not fit under a cap, 2 threads,
#   one 512-token ubatch a step as its default; it routes by the file's own router).
#   Under a cap sluice gets --mem = cap - cap/8 (8G -> 7G), cold. Without one (`none`), --no-repack
#   (the same kernels on the file's layout as under a budget) with the file already in the page
#   cache: the compute roofline the capped runs are held to.
# Prints one JSON line per run: binary, size, cap, memcap's peak and `sluice bench --json`'s figures.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 sizes=$2; shift 2
caps=("$@"); [ ${#caps[@]} -gt 0 ] || caps=(8G none)
read -r -a binaries <<<"${SLUICE:-build/bin/sluice}"
routing=${ROUTING:-uniform}
read -r -a extra <<<"${EXTRA:-}"

drop_cache() { sync; echo 1 > /proc/sys/vm/drop_caches; }

# run NAME CMD...: CMD under $cap (cold) or warm without one; prints its JSON line with memcap's peak.
run() {
    local name=$1 out peak=null; shift
    if [ "$cap" = none ]; then
        cat "$model" >/dev/null
        out=$("$@" 2>/tmp/prefill-err | grep '^{' | tail -n 1 || true)
    else
        drop_cache
        out=$(tools/memcap "$cap" "$@" 2>/tmp/prefill-err | grep '^{' | tail -n 1 || true)
        peak=$(grep -o 'peak MiB=[0-9]*' /tmp/prefill-err | cut -d= -f2 || true)
    fi
    echo "{\"binary\":\"$name\",\"size\":$size,\"cap\":\"$cap\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"memcap_peak_mib\":${peak:-null},\"result\":${out:-null}}"
}

for size in $sizes; do
    for cap in "${caps[@]}"; do
        if [ "$cap" = none ]; then
            budget=(--no-repack)
        else
            bytes=$(numfmt --from=iec "$cap")
            budget=(--mem $((bytes - bytes / 8)))
        fi
        for bin in "${binaries[@]}"; do
            run "$bin" "$bin" bench -m "$model" -p "$size" -n 1 --routing "$routing" "${budget[@]}" "${extra[@]}" --json
        done
        if [ -n "${LLAMA_BATCHED_BENCH:-}" ]; then
            run llama-batched-bench "$LLAMA_BATCHED_BENCH" -m "$model" -c $((size + 16)) -b "$size" -npp "$size" -ntg 1 \
                -npl 1 -t 2 --no-repack -lm mmap --output-format jsonl
        fi
    done
done
