#!/usr/bin/env bash
# The demo model's corpus from Debian packages (public-domain English text): Jane Austen's novels
# (r-cran-janeaustenr), the King James Bible (bible-kjv), the World English Bible (sword-text-web
# + diatheke) and the Jargon File (jargon-text). Writes train.txt (books separated by a line
# "<|endoftext|>") and heldout.txt (Austen's Persuasion, never trained on) into OUTDIR.
#
# usage: tools/train_demo/get_corpus.sh [OUTDIR]      (default: .corpus at the repository root)
# Runs on Debian 12 / Ubuntu; installs the packages with apt-get when they are missing (root or sudo).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/.corpus}
packages=(r-base-core r-cran-janeaustenr bible-kjv sword-text-web diatheke jargon-text)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$out"
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT

# One file per novel, one line per element of janeaustenr's character vectors.
Rscript -e 'library(janeaustenr)
for (n in c("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"))
  writeLines(get(n), file.path(commandArgs(TRUE)[1], paste0(n, ".txt")))' "$raw"
echo "Gen1:1-Rev22:21" | bible -f >"$raw/kjv.raw" 2>/dev/null
diatheke -b engWEB2015eb -k "Gen 1:1-Rev 22:21" >"$raw/web.raw"
zcat /usr/share/doc/jargon-text/jargon.txt.gz >"$raw/jargon.raw"

clean() { python3 "$here/clean_text.py" "$@"; }
for n in sensesensibility prideprejudice mansfieldpark emma northangerabbey persuasion; do
    clean austen "$raw/$n.txt" >"$raw/$n.clean"
done
clean kjv "$raw/kjv.raw" >"$raw/kjv.clean"
clean web "$raw/web.raw" >"$raw/web.clean"
clean jargon "$raw/jargon.raw" >"$raw/jargon.clean"

train=(sensesensibility prideprejudice mansfieldpark emma northangerabbey kjv web jargon)
first=1
for n in "${train[@]}"; do
    ((first)) || printf '<|endoftext|>\n'
    first=0
    cat "$raw/$n.clean"
done >"$out/train.txt"
cp "$raw/persuasion.clean" "$out/heldout.txt"

for n in "${train[@]}" persuasion; do
    printf '%-18s %9d bytes\n' "$n" "$(wc -c <"$raw/$n.clean")"
done
printf '%-18s %9d bytes, %d words\n' train.txt "$(wc -c <"$out/train.txt")" "$(wc -w <"$out/train.txt")"
printf '%-18s %9d bytes, %d words\n' heldout.txt "$(wc -c <"$out/heldout.txt")" "$(wc -w <"$out/heldout.txt")"
echo "written to $out"
