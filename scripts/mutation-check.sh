#!/usr/bin/env bash
# Plants each bug of scripts/mutations.tsv in turn in a scratch copy of the committed tree (HEAD),
# rebuilds incrementally and runs the default test command (ctest, as scripts/test.sh does).
# Prints the tests that caught each bug; fails if any bug survives or does not apply.
# Usage: scripts/mutation-check.sh [-j N] [--keep]   (dependencies: scripts/install-deps.sh)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc) keep=0
while [ $# -gt 0 ]; do
    case $1 in
        -j) jobs=$2; shift ;;
        -j*) jobs=${1#-j} ;;
        --keep) keep=1 ;;
        *) echo "usage: scripts/mutation-check.sh [-j N] [--keep]" >&2; exit 2 ;;
    esac
    shift
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/sluice-mutation-XXXXXX")
[ $keep = 1 ] || trap 'rm -rf "$scratch"' EXIT
git -C "$repo" archive HEAD | tar -x -C "$scratch"
# The scratch tree has no ../shared beside it: point the tests at the checkout's.
shared=${SLUICE_SHARED:-$repo/../shared}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache) && export CCACHE_BASEDIR=$scratch
cmake -S "$scratch" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BENCH=OFF \
    -DSLUICE_SHARED_DIR="$shared" "${launcher[@]}" >/dev/null
echo "building the unmutated tree in $scratch"
cmake --build "$scratch/build" -j"$jobs" >/dev/null

survived=0
while IFS=$'\t' read -r name file expr; do
    case $name in ''|'#'*) continue ;; esac
    src=$scratch/$file
    cp "$src" "$src.orig"
    sed -i -e "$expr" "$src"
    if cmp -s "$src" "$src.orig"; then
        echo "MUTATION $name: did not apply to $file (update scripts/mutations.tsv)"
        survived=1
        mv "$src.orig" "$src"
        continue
    fi
    start=$SECONDS
    if ! cmake --build "$scratch/build" -j"$jobs" >"$scratch/build.log" 2>&1; then
        echo "MUTATION $name: does not compile (update scripts/mutations.tsv)"
        tail -5 "$scratch/build.log"
        survived=1
    elif ctest --test-dir "$scratch/build" -j"$jobs" --timeout 900 >"$scratch/ctest.log" 2>&1; then
        echo "MUTATION $name: SURVIVED (every test passed)"
        survived=1
    else
        caught=$(sed -n '/The following tests FAILED:/,$p' "$scratch/ctest.log" | grep -E '^\s+[0-9]+ - ' |
                 sed -E 's/^\s+[0-9]+ - //; s/ \(.*\)$//' | paste -sd ' ' -)
        echo "MUTATION $name: caught in $((SECONDS - start)) s by: $caught"
    fi
    mv "$src.orig" "$src"
    touch "$src"
done <"$repo/scripts/mutations.tsv"

if [ $survived = 0 ]; then echo "every planted bug turned the suite red"; else echo "some planted bugs were not caught"; fi
exit $survived
