#!/usr/bin/env bash
# test_install.sh BUILD_DIR - `cmake --install` into a fresh prefix, then a small C program
# built against the installed copy only (pkg-config --cflags --libs adaptivek), linked
# against the shared library and, separately, statically; both must route a row of logits
# as the library documents. The installed adaptive-k runs too.
set -u
BUILD=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
cmake --install "$BUILD" --prefix "$tmp/prefix" > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; echo "FAIL: install"; exit 1; }
for f in include/adaptivek.h lib/libadaptivek.a lib/libadaptivek.so lib/libadaptivek.so.0 lib/pkgconfig/adaptivek.pc bin/adaptive-k; do
  [ -e "$tmp/prefix/$f" ] || { echo "FAIL: $f not installed"; fail=1; }
done
pc=$(dirname "$(find "$tmp/prefix" -name adaptivek.pc | head -1)")
libdir=$(dirname "$pc")
cat > "$tmp/main.c" <<'C'
#include <stdio.h>
#include <adaptivek.h>
int main(void) {
    float logits[8] = {4, 3, 0, 0, 0, 0, 0, 0};
    int k[1];
    int32_t ids[8];
    float w[8];
    ak_route_out out = {1, 8, k, ids, w, NULL};
    ak_policy p = ak_policy_top_p(0.9f, 1, 8);
    ak_error err;
    if (ak_route(&p, logits, 1, 8, 1, &out, &err) != AK_OK) { printf("error: %s\n", err.msg); return 1; }
    printf("%s k=%d ids=%d,%d\n", AK_VERSION, k[0], ids[0], ids[1]);
    return 0;
}
C
export PKG_CONFIG_PATH=$pc
cc -std=c11 -Wall -Werror $(pkg-config --cflags adaptivek) "$tmp/main.c" -o "$tmp/dyn" $(pkg-config --libs adaptivek) ||
  { echo "FAIL: build against the shared library"; fail=1; }
cc -std=c11 -Wall -Werror $(pkg-config --cflags adaptivek) "$tmp/main.c" -o "$tmp/static" "$libdir/libadaptivek.a" -lm ||
  { echo "FAIL: build against the static library"; fail=1; }
want="0.1.0 k=2 ids=0,1"
got=$(LD_LIBRARY_PATH=$libdir "$tmp/dyn") ; [ "$got" = "$want" ] || { echo "FAIL: shared: '$got', want '$want'"; fail=1; }
got=$("$tmp/static"); [ "$got" = "$want" ] || { echo "FAIL: static: '$got', want '$want'"; fail=1; }
LD_LIBRARY_PATH=$libdir ldd "$tmp/dyn" | grep -q "libadaptivek.so.0 => $libdir" || { echo "FAIL: not linked to the installed libadaptivek.so.0"; fail=1; }
"$tmp/prefix/bin/adaptive-k" --help > /dev/null 2>&1 || "$tmp/prefix/bin/adaptive-k" help > /dev/null 2>&1 ||
  { echo "FAIL: installed adaptive-k does not run"; fail=1; }
[ $fail = 0 ] && echo "install: ok ($got)"
exit $fail
