#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan + UBSan) in build-fuzz and runs each
# for a bounded time on a corpus seeded from the test fixtures. Fails on any crash, leak,
# timeout, out-of-memory or sanitizer report; the input that caused it is left in
# build-fuzz/findings/<target>/ (replay: build-fuzz/bin/<target> FILE).
# Usage: scripts/fuzz.sh [--no-deps] [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
deps=1
[ "${1:-}" = --no-deps ] && { deps=0; shift; }
seconds=${1:-60}
if [ $deps = 1 ] && ! command -v clang++ >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-dev
fi
cxx=$(command -v clang++ || command -v clang++-14)
dir=build-fuzz
cmake -S . -B $dir -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
    ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} \
    -DSLUICE_FUZZ=ON -DSLUICE_TESTS=OFF -DSLUICE_BENCH=OFF -DSLUICE_CUDA=OFF
targets=(fuzz_gguf fuzz_safetensors fuzz_hf_config fuzz_tokenizer_json fuzz_tiktoken fuzz_tokenize fuzz_chat fuzz_api_request)
cmake --build $dir -j"$(nproc)" --target fixtures "${targets[@]}"

# Seeds: the fixtures each target parses (big files cut to their first 64 KiB: the headers).
fx=$dir/fixtures
seed() {   # seed TARGET FILE [PREFIX_BYTE]
    local d=$dir/corpus/$1 name
    mkdir -p "$d"
    name=$(echo "$2" | tr / _)
    { [ -n "${3:-}" ] && printf "\\x$3"; head -c 65536 "$2"; } >"$d/$name"
}
rm -rf $dir/corpus $dir/findings
for t in "${targets[@]}"; do mkdir -p $dir/corpus/$t; done
for f in $fx/gguf/*.gguf; do seed fuzz_gguf "$f"; done
for m in $fx/models/*/; do
    seed fuzz_safetensors "$m/model.safetensors" 00
    seed fuzz_hf_config "$m/config.json"
    [ -f "$m/tokenizer.json" ] && seed fuzz_tokenizer_json "$m/tokenizer.json"
done
for c in tests/data/*/config.json tests/data/*-config.json; do seed fuzz_hf_config "$c"; done
seed fuzz_tokenizer_json $fx/tokenizer/qwen3/tokenizer.json
# Every byte, then merges of "a" up to "aaaa" and "ab".
{ for b in $(seq 0 255); do echo "$(printf "\\x$(printf %02x "$b")" | base64) $b"; done
  printf 'YWE= 256\nYWFhYQ== 257\nYWI= 258\n'; } >$dir/corpus/fuzz_tiktoken/bytes-and-merges
printf '\x01{"weight_map": {"a": "model-00001-of-00001.safetensors"}}' >$dir/corpus/fuzz_safetensors/index
seed fuzz_tokenize tests/data/fixtures/README.md
seed fuzz_tokenize $fx/tokenizer/qwen3/reference.json
for s in 00 07 0f; do
    printf "\\x$s"'{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
 {"role": "assistant", "content": "<think>\nhm\n</think>\n\nok", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
 {"role": "tool", "content": "42"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}' \
        >$dir/corpus/fuzz_chat/request-$s
done
printf '\x00<think>\nx\n</think>\n\n<tool_call>\n{"name": "f", "arguments": {"a": [1]}}\n</tool_call>' >$dir/corpus/fuzz_chat/reply-qwen3
printf '\x01<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>' >$dir/corpus/fuzz_chat/reply-qwen35
printf '\x01{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "stream": true,
 "stream_options": {"include_usage": true}, "stop": ["a", "b"], "temperature": 0.5, "max_tokens": 9, "seed": -3,
 "chat_template_kwargs": {"enable_thinking": false}, "tools": [{"type": "function", "function": {"name": "f"}}]}' \
    >$dir/corpus/fuzz_api_request/chat
printf '\x06{"prompt": ["once"], "top_k": 4, "top_p": 0.9, "min_p": 0.1, "n": 1, "stop": "x"}<think>a</think>b<tool_call>' \
    >$dir/corpus/fuzz_api_request/completion

status=0
for t in "${targets[@]}"; do
    mkdir -p $dir/findings/$t
    log=$dir/findings/$t.log
    # -timeout: one input taking over 10 s is a finding; -rss_limit_mb: so is 2 GiB of memory.
    if $dir/bin/$t $dir/corpus/$t -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix=$dir/findings/$t/ -print_final_stats=1 >"$log" 2>&1; then
        echo "$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') executions in ${seconds} s, no findings"
    else
        echo "$t: FINDING (see $log and $dir/findings/$t/)"; tail -n 40 "$log"; status=1
    fi
done
exit $status
