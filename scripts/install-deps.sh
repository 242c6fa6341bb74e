#!/usr/bin/env bash
# Installs the Debian 12 packages adaptive-k builds and tests with (needs root or sudo).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libcjson-dev libmicrohttpd-dev
      curl prometheus librsvg2-bin clang libclang-rt-14-dev
      python3 python3-numpy python3-torch python3-venv python3-setuptools)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# node and npm (the server tests use the openai npm SDK): a nodesource nodejs already
# bundles npm and conflicts with Debian's npm package, so install them only when absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
