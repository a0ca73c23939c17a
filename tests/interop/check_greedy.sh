#!/usr/bin/env bash
# Does llama.cpp (or a given id list) continue a fixture's prompt_X exactly as gen_X?
#   tests/interop/check_greedy.sh MODEL.gguf REFERENCE.safetensors a|b
#   tests/interop/check_greedy.sh --ids "13 177 ..." REFERENCE.safetensors a|b
# Exit codes: 0 equal, 1 different, 2 bad arguments or files, 77 skipped: node or
# node-llama-cpp is not installed (run tests/interop/setup.sh). For ctest:
#   add_test(NAME NAME COMMAND ${CMAKE_SOURCE_DIR}/tests/interop/check_greedy.sh MODEL REF a)
#   set_tests_properties(NAME PROPERTIES SKIP_RETURN_CODE 77)
set -u
if ! command -v node >/dev/null; then
    echo "check_greedy: skipped: node is not installed (apt-get install nodejs npm, then tests/interop/setup.sh)" >&2
    exit 77
fi
exec node "$(dirname "$0")/check_greedy.mjs" "$@"
