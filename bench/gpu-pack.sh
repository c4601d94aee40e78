#!/usr/bin/env bash
# Packs what bench/gpu-device.sh needs into .device/ (git-ignored, under 64 MiB): node, production deps, bwrap.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
rm -rf /tmp/sg-prod && mkdir -p /tmp/sg-prod .device
cp -r package.json package-lock.json node_modules /tmp/sg-prod/
(cd /tmp/sg-prod && npm prune --omit=dev >/dev/null 2>&1 && rm -rf node_modules/better-sqlite3/deps node_modules/better-sqlite3/src)
tar -C /tmp/sg-prod -cJf .device/node_modules.tar.xz node_modules
xz -T2 -9 -c "$(command -v node)" > .device/node.xz
cp "$(command -v bwrap)" .device/bwrap
du -sh .device
