#!/usr/bin/env bash
# The one command for the GPU machine, from the repository root, with the corpus of get_corpus.sh
# carried in .corpus/: a 30-second smoke run of the whole pipeline (tiny model, nothing kept),
# then the real training, whose 8 files land in OUT/demo-model/.
#
# usage: tools/train_demo/run_on_device.sh [OUT]        (default: $OUT)
# environment: CORPUS (default .corpus), MINUTES (training budget, default 6),
#              TOTAL_SECONDS (the whole command must end within this, default 570: runs are cut at 600)
set -euo pipefail

out=${1:-${OUT:?pass an output folder or set OUT}}
corpus=${CORPUS:-.corpus}
here=$(dirname "$0")
start=$(date +%s)
deadline=$((start + ${TOTAL_SECONDS:-570}))
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true

for f in train.txt heldout.txt; do
    [[ -s $corpus/$f ]] || { echo "run_on_device: $corpus/$f is missing (run tools/train_demo/get_corpus.sh and carry .corpus)" >&2; exit 1; }
done
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true

echo "== smoke run"
smoke=$(mktemp -d)
python3 "$here/train.py" --smoke --corpus "$corpus" --out "$smoke" --deadline $((start + 150)) --reserve 40
ls -l "$smoke"
rm -rf "$smoke"

echo "== training ($(($(date +%s) - start)) s since start)"
python3 "$here/train.py" --corpus "$corpus" --out "$out/demo-model" --minutes "${MINUTES:-6}" --deadline "$deadline"
ls -l "$out/demo-model"
echo "== done in $(($(date +%s) - start)) s"
