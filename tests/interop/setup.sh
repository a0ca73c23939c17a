#!/usr/bin/env bash
# Installs llama.cpp's prebuilt CPU binaries for Linux x86-64 (npm package node-llama-cpp,
# version pinned in package.json) into tests/interop/node_modules: about 85 MB, ~10 s.
# Optional platform packages (CUDA, Vulkan, other systems) are left out.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "interop: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
npm install --no-audit --no-fund --no-package-lock --omit=optional
