#!/bin/sh
# before_after.sh - interleaved speed comparison of two builds of bench_engine (for a
# refactor that must not change speed): for each round, each (file, threads) cell runs
# BEFORE then AFTER, so drift of a shared machine hits both alike. Prints one line per run
# with the 1-minute load average; summarise the ratios with medians.
# Usage: bench/before_after.sh BEFORE_BENCH AFTER_BENCH ROUNDS "FILE:THREADS" ...
set -eu
B=$1 A=$2 rounds=$3; shift 3
r=1
while [ "$r" -le "$rounds" ]; do
  for cell in "$@"; do
    file=${cell%:*} t=${cell##*:}
    for side in before after; do
      bin=$B; [ "$side" = after ] && bin=$A
      res=$("$bin" -m "$file" -p 64 -n 32 -r 3 -t "$t" | tail -1)
      echo "$side $(basename "$file") t=$t load=$(cut -d' ' -f1 /proc/loadavg) $(echo "$res" | grep -o 'pp_tps=[0-9.]* tg_tps=[0-9.]*')"
    done
  done
  r=$((r + 1))
done
