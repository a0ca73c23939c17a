#!/usr/bin/env bash
# Server benchmark (issue 12): aggregate decode tok/s of `sluice serve` at 1, 2, 4 and 8
# concurrent streams, under memory caps that include the page cache (tools/memcap), beside
# llama.cpp's llama-server -np N (N the largest of STREAMS) on the same file and caps; and the
# prompt cache: the time to first token of a conversation's next turn against its first (~2,000
# tokens).
#
# Usage: bench/serve.sh MODEL.gguf [CAPS...]      e.g. bench/serve.sh /data/qwen3-30b-a3b-q4_k.gguf 8G none
#   Environment: SLUICE (default build/bin/sluice), LLAMA_SERVER (a llama-server binary; unset:
#   sluice only), STREAMS (default "1 2 4 8"), MAX_TOKENS (per request, default 32), CTX (per
#   sequence, default 4096), ROUTING (sluice's, default uniform: a random-weight synth model's
#   router sends nearly every token to the same few experts, which would hide the disk).
#   Under a cap sluice gets --mem of the cap less 1/16 (bench/stream.sh's margin); llama-server
#   maps the file with --no-repack (the page cache is its expert cache, counted by the cap; its
#   default repacking would copy all 17 GB of Q4_K weights into memory the cap cannot hold), and
#   the page cache is dropped before each capped start (pages cached earlier would be charged to
#   no cap). PROMPT_WORDS: the prompt-cache text's length in words (default 1900, about 2,000
#   tokens with a trained model's tokenizer; a synth file's tokenizer makes ~6.8 tokens of a word
#   here, so give it 295; 0 skips it). SLUICE_ARGS, LLAMA_ARGS: more arguments for each server
#   (e.g. --no-repack for both, to compare the file's layout in memory).
# Prints one JSON line per measurement: engine, cap, the load average at its start (on a shared
# machine run the script under `nice -n -20`, and give both servers `-t 1` through SLUICE_ARGS and
# LLAMA_ARGS: a thread pool stalls when a core is taken away), and bench/serve_load.mjs's
# figures; for sluice also what /metrics counted during that measurement (expert bytes read, hit
# rate; the bytes per generated token include the reads of the measurement's prompts).
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
server_pid=
# A failed measurement (set -e) must not leave a server running.
trap '[ -z "$server_pid" ] || stop_server; rm -f $log' EXIT

drop_cache() { sync; echo 1 > /proc/sys/vm/drop_caches; }
budget_for() { local bytes; bytes=$(numfmt --from=iec "$1"); echo $(( bytes - bytes / 16 )); }

# start_server ENGINE CAP → sets server_pid and url (waits for /health)
start_server() {
    local engine=$1 cap=$2 port
    port=$(( 20000 + RANDOM % 20000 ))
    local cmd=()
    [ "$cap" = none ] || { cmd=(tools/memcap "$cap"); drop_cache; }
    if [ "$engine" = sluice ]; then
        cmd+=("$SLUICE" serve -m "$model" --port "$port" --parallel "$nmax" -c "$ctx" --routing "${ROUTING:-uniform}")
        [ "$cap" = none ] || cmd+=(--mem "$(budget_for "$cap")")
        # shellcheck disable=SC2206  # word splitting intended: a list of arguments
        cmd+=(${SLUICE_ARGS:-})
    else
        cmd+=("$LLAMA_SERVER" -m "$model" --port "$port" -np "$nmax" -c $(( ctx * nmax )) --no-webui)
        [ "$cap" = none ] || cmd+=(--no-repack)
        # shellcheck disable=SC2206  # word splitting intended: a list of arguments
        cmd+=(${LLAMA_ARGS:-})
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

# stop_server → sets peak (memcap's, MiB; empty without a cap). Not in a $(...) subshell, which
# could not wait for the server and would read the log before memcap wrote the peak.
stop_server() {
    # Under memcap the server is memcap's child: end it, and memcap prints the peak.
    local child
    child=$(cat /proc/$server_pid/task/$server_pid/children 2>/dev/null | awk '{print $1}')
    kill -TERM "${child:-$server_pid}" 2>/dev/null || true
    wait $server_pid 2>/dev/null || true
    peak=$(grep -o 'peak MiB=[0-9]*' "$log" | cut -d= -f2 || true)
    server_pid=
}

# expert_counters → "hits misses bytes_read generated" from sluice's /metrics
expert_counters() {
    curl -sf "$url/metrics" | awk '$1=="sluice_expert_cache_hits_total"{h=$2} $1=="sluice_expert_cache_misses_total"{m=$2}
        $1=="sluice_expert_bytes_read_total"{b=$2} $1=="sluice_generated_tokens_total"{g=$2} END{printf "%.0f %.0f %.0f %.0f\n", h, m, b, g}'
}

# experts_since "COUNTERS BEFORE" → JSON of the expert cache's work since then (per generated token)
experts_since() {
    local h0 m0 b0 g0 h1 m1 b1 g1
    read -r h0 m0 b0 g0 <<<"$1"
    read -r h1 m1 b1 g1 <<<"$(expert_counters)"
    awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) -v b=$((b1 - b0)) -v g=$((g1 - g0)) 'BEGIN{
        printf "{\"hit_rate\":%.4f,\"bytes_read\":%.0f,\"mb_read_per_token\":%.1f}", h + m ? h / (h + m) : 0, b, g ? b / g / 1e6 : 0}'
}

engines=(sluice)
[ -n "${LLAMA_SERVER:-}" ] && engines+=(llama-server)
for cap in "${caps[@]}"; do
    for engine in "${engines[@]}"; do
        start_server "$engine" "$cap" || continue
        node bench/serve_load.mjs "$url" streams 1 4 >/dev/null   # warm-up: the dense part read, first experts
        for n in "${streams[@]}"; do
            [ "$engine" = sluice ] && before=$(expert_counters)
            result=$(node bench/serve_load.mjs "$url" streams "$n" "$max_tokens")
            experts=; [ "$engine" = sluice ] && experts=",\"experts\":$(experts_since "$before")"
            echo "{\"engine\":\"$engine\",\"cap\":\"$cap\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"result\":$result$experts}"
        done
        if [ "${PROMPT_WORDS:-1900}" != 0 ]; then
            echo "{\"engine\":\"$engine\",\"cap\":\"$cap\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"prompt_cache\":$(node bench/serve_load.mjs "$url" prompt-cache "${PROMPT_WORDS:-1900}")}"
        fi
        stop_server
        echo "{\"engine\":\"$engine\",\"cap\":\"$cap\",\"memcap_peak_mib\":${peak:-null}}"
    done
done
