#!/usr/bin/env bash
# The trained demo model's speed/quality trade-off and cache behaviour (bench/RESULTS.md,
# "Trained demo model"), all with sluice's own commands on the held-out book.
#
# Usage: bench/demo_model.sh HF_FOLDER HELDOUT.txt [WORKDIR]
#   HF_FOLDER: the bf16 Hugging Face folder the shipped GGUF was converted from (the KL base);
#   HELDOUT.txt: tools/train_demo/get_corpus.sh's .corpus/heldout.txt; WORKDIR (default
#   /tmp/sluice-demo-bench) gets the converted variants and the base's saved log-probabilities
#   (about 1 GB). Environment: SLUICE (default build/bin/sluice), THREADS (default 1: on a
#   machine shared with other jobs, waiting threads made 2 threads five times slower than 1),
#   PARTS (default "quality cache": which parts to run), CACHE_CHUNKS (default 0, all: how many
#   chunks of 512 the token-by-token cache runs score).
# Prints, per run, the command and the lines that carry its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
hf=$1 text=$2 work=${3:-/tmp/sluice-demo-bench}
SLUICE=${SLUICE:-build/bin/sluice}
threads=${THREADS:-1}
parts=${PARTS:-quality cache}
cache_chunks=${CACHE_CHUNKS:-0}
model=models/demo-moe-11m.gguf
mkdir -p "$work"
base=$work/base.logits

# A speed budget fixed for every row of the quality table: with the shipped Q4_K experts and
# the run's scratch (prefill batch 256, -c 256) its expert cache holds 32 of the 128 experts.
speed_mem=45.3M
# Budgets holding 25% and 50% of the shipped model's experts for per-token perplexity
# (--ubatch 1, ctx 512): fixed part 31,805,952 bytes, slots of 49,152 bytes.
mem25=$((31805952 + 32 * 49152))
mem50=$((31805952 + 64 * 49152))

show() { echo "\$ $*"; "$@" -t "$threads"; }
ppl_lines() { grep -E '^(PPL|mean KL|top-1|prefill|prefill I/O|routing|peak)' || true; }

decode_tok_s() {  # MODEL [EXTRA...]: median decode tok/s of 3 greedy runs under $speed_mem
    local m=$1; shift
    for _ in 1 2 3; do
        "$SLUICE" run -m "$m" -p "It was a fine morning, and Elizabeth" -n 200 -c 256 --mem $speed_mem -t "$threads" --stats "$@" 2>&1 >/dev/null |
            sed -n 's/.*decode: [0-9]* tokens, \([0-9.]*\) tok\/s.*/\1/p'
    done | sort -n | sed -n 2p
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $threads thread(s)"
if [[ $parts == *quality* ]]; then
echo "== base: bf16 folder, log-probabilities saved (kept from an earlier run if $base exists)"
[ -f "$base" ] || show "$SLUICE" perplexity -m "$hf" -f "$text" --save-logits "$base" | ppl_lines

echo "== experts per token (shipped GGUF: dense q8_0, experts q4_k)"
for k in 4 3 2 1; do
    show "$SLUICE" perplexity -m $model -f "$text" --experts-per-token $k --kl-base "$base" | ppl_lines
    echo "decode tok/s (median of 3, --mem $speed_mem): $(decode_tok_s $model --experts-per-token $k)"
done

echo "== expert types (dense q8_0)"
for t in q8_0 q6_k q4_k q3_k q2_k; do
    out=$work/demo-q8_0-$t.gguf
    [ -f "$out" ] || "$SLUICE" convert "$hf" "$out" --type q8_0 --expert-type $t >/dev/null
    echo "$out: $(stat -c %s "$out") bytes; $("$SLUICE" inspect -m "$out" --mem $speed_mem -c 256 | grep 'expert cache')"
    show "$SLUICE" perplexity -m "$out" -f "$text" --kl-base "$base" | ppl_lines
    echo "decode tok/s (median of 3, --mem $speed_mem): $(decode_tok_s "$out")"
done

fi

[[ $parts == *cache* ]] || exit 0
echo "== cache policy and prefetch, token by token (--ubatch 1), ctx 512, chunks $cache_chunks (0: all)"
for mem in $mem25 $mem50; do
    for policy in lfu lru; do
        for prefetch in "" --no-prefetch; do
            [ "$policy" = lru ] && [ -n "$prefetch" ] && continue
            start=$(date +%s.%N)
            show "$SLUICE" perplexity -m $model -f "$text" --mem "$mem" --ubatch 1 --chunks "$cache_chunks" --cache-policy $policy $prefetch \
                --stats 2>&1 | ppl_lines
            echo "wall: $(echo "$(date +%s.%N) - $start" | bc) s"
        done
    done
done
