#!/usr/bin/env bash
# setup-openai.sh DEST - installs the official openai npm SDK, pinned, into DEST (a build
# directory; CTest fixture of test_serve_openai). Needs the npm registry: without it this
# fails, unless AK_ALLOW_SKIP is set, in which case the SDK test skips.
set -u
DEST=$1
VERSION=4.95.0
if [ -f "$DEST/node_modules/openai/package.json" ] &&
  grep -q "\"version\": \"$VERSION\"" "$DEST/node_modules/openai/package.json"; then
  exit 0
fi
mkdir -p "$DEST"
rm -f "$DEST/SKIPPED"
if ! command -v npm > /dev/null; then
  msg="npm is not installed (scripts/install-deps.sh)"
elif timeout 300 npm install "openai@$VERSION" --no-save --no-audit --no-fund --prefix "$DEST" > "$DEST/npm.log" 2>&1; then
  exit 0
else
  msg="npm install openai@$VERSION failed (is the npm registry reachable?); see $DEST/npm.log"
  tail -5 "$DEST/npm.log" >&2
fi
if [ -n "${AK_ALLOW_SKIP:-}" ]; then
  echo "$msg" > "$DEST/SKIPPED"
  echo "setup-openai: $msg; AK_ALLOW_SKIP is set, the SDK test will skip" >&2
  exit 0
fi
echo "setup-openai: $msg" >&2
exit 1
