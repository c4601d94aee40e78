#!/usr/bin/env bash
# Runs bench/gpu.ts on a GPU machine that has python3 + torch but no node: unpacks what `.device/` carries
# (an xz'd node binary, production node_modules, Debian's bwrap) and writes the results under $OUT.
# Prepared here with: bench/gpu-pack.sh
set -uo pipefail
OUT=${OUT:-/tmp/sg-out}; mkdir -p "$OUT"
mkdir -p /tmp/sg/bin
xz -dc .device/node.xz > /tmp/sg/bin/node && chmod +x /tmp/sg/bin/node
cp .device/bwrap /tmp/sg/bin/bwrap && chmod +x /tmp/sg/bin/bwrap
[ -d node_modules/fastify ] || tar -xJf .device/node_modules.tar.xz
export PATH=/tmp/sg/bin:$PATH
{
  id; uname -r; nproc; nvidia-smi -L
  python3 -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), sys.executable)"
  bwrap --version; ls /dev/nvidia*
} 2>&1 | tee "$OUT/machine.txt"
timeout 420 node dist/bench/gpu.js --json "$OUT/gpu.json" 2>&1 | tee "$OUT/gpu.log"
