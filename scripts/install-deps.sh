#!/usr/bin/env bash
# Installs the Debian 12 packages adaptive-k builds and tests with (needs root or sudo).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libcjson-dev libmicrohttpd-dev
      curl nodejs npm prometheus librsvg2-bin)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
