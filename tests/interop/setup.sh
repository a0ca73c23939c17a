#!/usr/bin/env bash
# Installs llama.cpp's prebuilt CPU binaries for Linux x86-64 (npm package node-llama-cpp, pinned
# with its dependencies in package-lock.json) into tests/interop/node_modules, then checks that
# they load. Fresh install: ~57 MB download, 85 MB on disk, ~15 s; when the installed packages
# already match package-lock.json and load, it only says so (scripts/test.sh runs it every time).
# Optional platform packages (CUDA, Vulkan, other systems) are left out, and node-llama-cpp's
# postinstall step is skipped: it would build llama.cpp from source if the prebuilt binaries did
# not load, and we want those binaries or a clear failure. To change versions, edit package.json,
# then regenerate the lock file as lock.mjs describes.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "interop: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
stamp=node_modules/.sluice-lock.sha256   # package-lock.json's hash at the last complete install
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat $stamp 2>/dev/null)" = "$lock" ] && version=$(node llama_greedy.mjs --version 2>/dev/null); then
    echo "interop: $version (already installed)"
    exit 0
fi
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --no-audit --no-fund
npm ls --omit=optional --depth=0
echo "interop: $(node llama_greedy.mjs --version)"   # fails unless the prebuilt binaries load
echo "$lock" >$stamp
echo "interop: node_modules $(du -sh node_modules | cut -f1)"
