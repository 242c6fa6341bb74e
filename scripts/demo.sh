#!/usr/bin/env bash
# Sets up and runs the main demo: build, then route the shipped sample of router logits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
./build/tools/adaptive-k route data/sample_router_logits.npy --policy entropy
