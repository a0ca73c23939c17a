#!/usr/bin/env bash
# Installs the official OpenAI client (npm package openai, pinned in package-lock.json; no
# dependencies, 14 MB) into tests/serve/node_modules for the serve tests (tests/e2e/serve_test.cpp
# runs openai_client.mjs against `sluice serve`). When the installed package already matches
# package-lock.json it only says so (scripts/test.sh runs it every time).
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "serve: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
stamp=node_modules/.sluice-lock.sha256   # package-lock.json's hash at the last complete install
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat $stamp 2>/dev/null)" = "$lock" ] && [ -f node_modules/openai/package.json ]; then
    echo "serve: openai $(node -p 'require("./node_modules/openai/package.json").version') (already installed)"
    exit 0
fi
npm ci --no-audit --no-fund
echo "$lock" >$stamp
echo "serve: openai $(node -p 'require("./node_modules/openai/package.json").version') installed"
