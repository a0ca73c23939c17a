#!/usr/bin/env bash
# Server benchmark (issue 12): aggregate decode tok/s of `sluice serve` at 1, 2, 4 and 8
# concurrent streams, under memory caps that include the page cache (tools/memcap), beside
# llama.cpp's llama-server -np 8 on the same file and caps; and the prompt cache: the time to first
# token of a conversation's next turn against its first (~2,000 tokens).
#
# Usage: bench/serve.sh MODEL.gguf [CAPS...]      e.g. bench/serve.sh /data/qwen3-30b-a3b-q4_k.gguf 8G none
#   Environment: SLUICE (default build/bin/sluice), LLAMA_SERVER (a llama-server binary; unset:
#   sluice only), STREAMS (default "1 2 4 8"), MAX_TOKENS (per request, default 32), CTX (per
#   sequence, default 4096), ROUTING (sluice's, default uniform: a random-weight synth model's
#   router sends nearly every token to the same few experts, which would hide the disk).
#   Under a cap sluice gets --mem of the cap less 1/16 (bench/stream.sh's margin); llama-server
#   maps the file (the page cache is its expert cache, counted by the cap). PROMPT_WORDS: the
#   prompt-cache conversation's length in words (default 1900, about 2,000 tokens).
# Prints one JSON line per measurement: engine, cap, and bench/serve_load.mjs's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; shift
caps=("$@"); [ ${#caps[@]} -gt 0 ] || caps=(8G none)
SLUICE=${SLUICE:-build/bin/sluice}
read -r -a streams <<<"${STREAMS:-1 2 4 8}"
max_tokens=${MAX_TOKENS:-32}
ctx=${CTX:-4096}
nmax=${streams[-1]}
log=$(mktemp)
trap 'rm -f $log' EXIT

budget_for() { local bytes; bytes=$(numfmt --from=iec "$1"); echo $(( bytes - bytes / 16 )); }

# start_server ENGINE CAP → sets server_pid and url (waits for /health)
start_server() {
    local engine=$1 cap=$2 port
    port=$(( 20000 + RANDOM % 20000 ))
    local cmd=()
    [ "$cap" = none ] || cmd=(tools/memcap "$cap")
    if [ "$engine" = sluice ]; then
        cmd+=("$SLUICE" serve -m "$model" --port "$port" --parallel "$nmax" -c "$ctx" --routing "${ROUTING:-uniform}")
        [ "$cap" = none ] || cmd+=(--mem "$(budget_for "$cap")")
    else
        cmd+=("$LLAMA_SERVER" -m "$model" --port "$port" -np "$nmax" -c $(( ctx * nmax )) --no-webui)
    fi
    "${cmd[@]}" >"$log" 2>&1 &
    server_pid=$!
    url=http://127.0.0.1:$port
    for _ in $(seq 600); do
        curl -sf "$url/health" >/dev/null 2>&1 && return 0
        kill -0 $server_pid 2>/dev/null || { echo "serve.sh: $engine did not start:" >&2; tail -5 "$log" >&2; return 1; }
        sleep 1
    done
    echo "serve.sh: $engine did not answer /health in 10 minutes" >&2
    return 1
}

stop_server() {
    # Under memcap the server is memcap's child: end it, and memcap prints the peak.
    local child
    child=$(cat /proc/$server_pid/task/$server_pid/children 2>/dev/null | awk '{print $1}')
    kill -TERM "${child:-$server_pid}" 2>/dev/null || true
    wait $server_pid 2>/dev/null || true
    grep -o 'peak MiB=[0-9]*' "$log" | cut -d= -f2 || true
}

engines=(sluice)
[ -n "${LLAMA_SERVER:-}" ] && engines+=(llama-server)
for cap in "${caps[@]}"; do
    for engine in "${engines[@]}"; do
        start_server "$engine" "$cap" || continue
        node bench/serve_load.mjs "$url" streams 1 4 >/dev/null   # warm-up: the dense part read, first experts
        for n in "${streams[@]}"; do
            echo "{\"engine\":\"$engine\",\"cap\":\"$cap\",\"result\":$(node bench/serve_load.mjs "$url" streams "$n" "$max_tokens")}"
        done
        echo "{\"engine\":\"$engine\",\"cap\":\"$cap\",\"prompt_cache\":$(node bench/serve_load.mjs "$url" prompt-cache "${PROMPT_WORDS:-1900}")}"
        peak=$(stop_server)
        echo "{\"engine\":\"$engine\",\"cap\":\"$cap\",\"memcap_peak_mib\":${peak:-null}}"
    done
done
