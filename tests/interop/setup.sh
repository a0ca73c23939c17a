#!/usr/bin/env bash
# Installs llama.cpp's prebuilt CPU binaries for Linux x86-64 (npm package node-llama-cpp,
# pinned in package-lock.json) into tests/interop/node_modules: about 85 MB, ~10 s.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "interop: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
npm ci --no-audit --no-fund --omit=optional
