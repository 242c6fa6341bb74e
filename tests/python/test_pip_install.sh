#!/usr/bin/env bash
# test_pip_install.sh PYTHON LIBADAPTIVEK CLI - `pip install ./python` offline into a fresh
# venv that sees Debian's NumPy (--system-site-packages), then, from outside the source
# tree, the installed package must load its own copy of the library and the example must
# print the CLI's summary.
set -u
py=$1 lib=$2 cli=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m venv --system-site-packages "$tmp/venv" || { echo "FAIL: venv (install python3-venv)"; exit 1; }
# pip builds in the directory it installs from: a copy keeps the source tree clean
cp -r "$root/python" "$tmp/python"
ADAPTIVEK_LIB=$lib "$tmp/venv/bin/pip" install --no-index --no-cache-dir "$tmp/python" > "$tmp/pip.log" 2>&1 ||
  { cat "$tmp/pip.log"; echo "FAIL: pip install ./python"; exit 1; }
fail=0
cd "$tmp"
where=$(env -u ADAPTIVEK_LIB -u PYTHONPATH "$tmp/venv/bin/python" -c \
  "import adaptive_k, adaptive_k._lib as l; print(l.lib._name)") || fail=1
rm -rf "$tmp/python"
case "$where" in
  "$tmp"/venv/*/adaptive_k/libadaptivek.so.0) ;;
  *) echo "FAIL: the installed package loads '$where', not its own copy"; fail=1 ;;
esac
got=$(env -u ADAPTIVEK_LIB -u PYTHONPATH "$tmp/venv/bin/python" "$root/python/examples/route_gguf.py" \
  "$root/models/olmoe-sotu-f16.gguf" "$root/data/sample_router_logits.npy") || fail=1
want=$("$cli" route "$root/data/sample_router_logits.npy" --k-native 4)
[ "$(sed -n '/^  layer/,$p' <<<"$got")" = "$(sed -n '/^  layer/,$p' <<<"$want")" ] ||
  { echo "FAIL: the installed example's summary differs from the CLI's"; echo "$got"; fail=1; }
grep -q "K=4     2647" <<<"$got" || { echo "FAIL: no summary"; fail=1; }
[ $fail = 0 ] && echo "pip install ./python: installed, loads its own libadaptivek, example = CLI summary"
exit $fail
