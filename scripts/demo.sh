#!/usr/bin/env bash
# The main demo: installs the build dependencies, builds, then runs scripts/demo-run.sh: the
# shipped MoE model at its native K and with adaptive-K routers calibrated to an average K
# of 3, what that costs in quality and saves in compute, and the model served over the
# OpenAI-compatible HTTP API with Prometheus metrics, then the 64-expert model. About 30
# seconds after the build (measured on 2 loaded cores).
#   bash scripts/demo.sh            (AK_DEMO_CHUNKS=N scores N chunks of 256 tokens, default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
exec bash scripts/demo-run.sh ./build/tools/adaptive-k
