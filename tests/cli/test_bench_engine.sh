#!/usr/bin/env bash
# bench_engine's decode roofline (bench/roofline.h) on the shipped model: the line is there,
# the dense bytes per token do not depend on K, and the expert bytes per token scale with K
# exactly (native top-4 against a fixed K of 2: half); -d DEPTH adds the cache it reads.
#   test_bench_engine.sh BENCH_ENGINE MODEL
set -u
B=$1 MODEL=$2
fail=0
run() { "$B" -m "$MODEL" -p 0 -n 8 -r 1 -t 1 "$@"; }
native=$(run) || { echo "FAIL: bench_engine exited $?"; exit 1; }
half=$(run --policy fixed --k 2) || { echo "FAIL: bench_engine --k 2 exited $?"; exit 1; }
get() { echo "$1" | sed -nE "s/.*$2.*/\1/p" | head -1; }
dn=$(get "$native" 'dense ([0-9.]+) \+') dh=$(get "$half" 'dense ([0-9.]+) \+')
en=$(get "$native" 'experts ([0-9.]+) at') eh=$(get "$half" 'experts ([0-9.]+) at')
frac=$(get "$native" 'roofline_frac=([0-9.]+)')
echo "native: dense $dn MiB + experts $en MiB; K=2: dense $dh + experts $eh; measured/roofline $frac"
[ -n "$dn" ] && [ "$dn" = "$dh" ] || { echo "FAIL: dense bytes differ ($dn, $dh)"; fail=1; }
awk -v a="$en" -v b="$eh" 'BEGIN { exit !(a > 0 && (b / a > 0.49 && b / a < 0.51)) }' || { echo "FAIL: experts at K=2 are not half"; fail=1; }
awk -v f="$frac" 'BEGIN { exit !(f > 0) }' || { echo "FAIL: no roofline fraction"; fail=1; }
# -d (llama-bench -d): the tests run after DEPTH cached tokens; the roofline counts their K/V
deep=$(run -p 8 -d 128) || { echo "FAIL: bench_engine -d 128 exited $?"; exit 1; }
kn=$(get "$native" 'KV ([0-9.]+)\)') kd=$(get "$deep" 'KV ([0-9.]+)\)')
echo "$deep" | grep -q ' d=128 ' || { echo "FAIL: -d 128 not in RESULT"; fail=1; }
awk -v a="$kn" -v b="$kd" 'BEGIN { exit !(b > 10 * a && a > 0) }' || { echo "FAIL: KV bytes at depth 128 ($kd) vs 0 ($kn)"; fail=1; }
# regression roofline_kv_bytes_follow_the_cache_type: the KV bytes were counted as f32
# whatever the cache held; an f32 cache reads twice an f16 cache's (the default)
deep32=$(run -p 8 -d 128 -ctk f32 -ctv f32) || { echo "FAIL: bench_engine -ctk f32 exited $?"; exit 1; }
k32=$(get "$deep32" 'KV ([0-9.]+)\)')
awk -v a="$kd" -v b="$k32" 'BEGIN { r = b / a; exit !(r > 1.99 && r < 2.01) }' || { echo "FAIL: KV bytes f32 $k32 vs f16 $kd"; fail=1; }
[ $fail = 0 ] && echo PASS
exit $fail
