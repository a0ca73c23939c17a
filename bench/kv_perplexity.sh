#!/usr/bin/env bash
# Perplexity with each KV cache type, sluice beside llama.cpp on the same GGUF (issue 20): for every
# context × chunks and cache type, `sluice perplexity --cache-type T` then `llama-perplexity -ctk T
# -ctv T -fa on` (flash attention: llama.cpp's quantised V cache needs it), alternating. Both score
# the second half of each chunk, as llama.cpp's tool does.
#
# Usage: bench/kv_perplexity.sh MODEL.gguf TEXT "CTX:CHUNKS ..." ["f32 f16 q8_0"]
#   Environment: SLUICE (default build/bin/sluice), LLAMA_PERPLEXITY (default: next to the
#   llama-bench that bench/llama/build_llama_bench.sh builds), THREADS (default: all cores).
# Prints one line per run: engine, context, chunks, cache type, final perplexity, seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 text=$2 cases=$3
read -r -a types <<<"${4:-f32 f16 q8_0}"
SLUICE=${SLUICE:-build/bin/sluice}
llama=${LLAMA_PERPLEXITY:-$(dirname "$(bench/llama/build_llama_bench.sh | tail -n 1)")/llama-perplexity}
threads=${THREADS:-$(nproc)}

for c in $cases; do
    ctx=${c%%:*} chunks=${c##*:}
    for t in "${types[@]}"; do
        start=$(date +%s.%N)
        ppl=$("$SLUICE" perplexity -m "$model" -f "$text" -c "$ctx" --chunks "$chunks" --cache-type "$t" -t "$threads" 2>/dev/null |
              grep -o 'PPL = [0-9.]*' | tail -n 1 | cut -d' ' -f3)
        echo "sluice ctx=$ctx chunks=$chunks cache=$t ppl=$ppl seconds=$(echo "$(date +%s.%N) - $start" | bc)"
        start=$(date +%s.%N)
        ppl=$("$llama" -m "$model" -f "$text" -c "$ctx" --chunks "$chunks" -b "$ctx" -ctk "$t" -ctv "$t" -fa on -t "$threads" 2>&1 |
              grep -o 'Final estimate: PPL = [0-9.]*' | cut -d' ' -f5)
        echo "llama.cpp ctx=$ctx chunks=$chunks cache=$t ppl=$ppl seconds=$(echo "$(date +%s.%N) - $start" | bc)"
    done
done
