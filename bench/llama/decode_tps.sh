#!/usr/bin/env bash
# llama.cpp's prefill and decode speed on MODEL.gguf as one JSON line:
#   {"tool":…,"model":…,"threads":2,"repack":…,"prefill_tok_s":…,"decode_tok_s":…, …}
# Usage: bench/llama/decode_tps.sh MODEL.gguf [--no-repack]
#   Prefill: a 64-token prompt; decode: DECODE (32) single-token steps. Weights are memory-mapped (-lm mmap).
#   Default: llama-bench (-p 64 -n DECODE, 5 repetitions after a warm-up; figures are means, with
#   standard deviations). llama.cpp copies quantised weights it can repack into anonymous memory.
#   --no-repack keeps every weight in the mapped file, as a run under a memory cap needs. This
#   llama-bench cannot do that (it has no --no-repack, and its `-ot PATTERN=CPU` still picks the
#   repacking buffer), so this mode runs llama-batched-bench --no-repack (one warm-up, then a
#   single timed run: -npp 64 -ntg DECODE -npl 1) instead.
# Environment: THREADS (default 2), DECODE (default 32; under a tight memory cap llama.cpp
#   decodes at ~0.1 tok/s, so stream.sh asks for fewer there), LLAMA_BIN (directory holding llama-bench and
#   llama-batched-bench; default: where build_llama_bench.sh puts them).
set -euo pipefail
usage="usage: bench/llama/decode_tps.sh MODEL.gguf [--no-repack]"
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
model=$1
repack=true
case "${2:-}" in
    "") ;;
    --no-repack) repack=false ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
[ -f "$model" ] || { echo "decode_tps: $model: no such file" >&2; exit 2; }
bin=${LLAMA_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/llama-bench/build/bin}
threads=${THREADS:-2}
decode=${DECODE:-32}
tool=$([ $repack = true ] && echo llama-bench || echo llama-batched-bench)
[ -x "$bin/$tool" ] || { echo "decode_tps: $bin/$tool missing: run bench/llama/build_llama_bench.sh" >&2; exit 2; }

if [ $repack = true ]; then
    raw=$("$bin/llama-bench" -m "$model" -p 64 -n "$decode" -t "$threads" -lm mmap -o json 2>/tmp/decode_tps.$$.err) \
        || { cat /tmp/decode_tps.$$.err >&2; rm -f /tmp/decode_tps.$$.err; exit 1; }
else
    # llama-batched-bench prints through llama.cpp's asynchronous logger, whose queue is not
    # flushed at exit (llama.cpp issue 22142): the last result line is sometimes lost. A second,
    # prefill-only configuration (-ntg 32,0) gives the logger time to write the line we want,
    # and a missing line is retried.
    raw=
    for attempt in 1 2 3; do
        out=$("$bin/llama-batched-bench" -m "$model" -c 128 -b 64 -ub 64 -npp 64 -ntg "$decode",0 -npl 1 -t "$threads" \
                  --no-repack -lm mmap --output-format jsonl 2>/tmp/decode_tps.$$.err) \
            || { cat /tmp/decode_tps.$$.err >&2; rm -f /tmp/decode_tps.$$.err; exit 1; }
        raw=$(grep "\"tg\": $decode," <<<"$out" || true)
        [ -n "$raw" ] && break
        echo "decode_tps: llama-batched-bench printed no result (attempt $attempt)" >&2
    done
    [ -n "$raw" ] || { cat /tmp/decode_tps.$$.err >&2; rm -f /tmp/decode_tps.$$.err; exit 1; }
fi
rm -f /tmp/decode_tps.$$.err

# llama-bench prints a JSON array (one entry per test); llama-batched-bench one JSON object per
# configuration, of which raw holds the 64 + DECODE one.
RAW=$raw TOOL=$tool MODEL=$model THREADS=$threads REPACK=$repack node -e '
const {RAW, TOOL, MODEL, THREADS, REPACK} = process.env;
const out = {tool: TOOL, model: MODEL, threads: Number(THREADS), repack: REPACK === "true"};
if (TOOL === "llama-bench") {
    const tests = JSON.parse(RAW);
    const pp = tests.find((t) => t.n_prompt > 0 && t.n_gen === 0), tg = tests.find((t) => t.n_gen > 0 && t.n_prompt === 0);
    Object.assign(out, {build: pp.build_commit, cpu: pp.cpu_info, prefill_tok_s: pp.avg_ts, prefill_stddev: pp.stddev_ts,
                        decode_tok_s: tg.avg_ts, decode_stddev: tg.stddev_ts});
} else {
    const r = JSON.parse(RAW);
    Object.assign(out, {prefill_tok_s: r.speed_pp, decode_tok_s: r.speed_tg});
}
console.log(JSON.stringify(out));
'
