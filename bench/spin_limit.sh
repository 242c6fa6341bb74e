#!/bin/sh
# spin_limit.sh - how long a waiting pool thread should spin before it sleeps
# (threadpool.c, AK_SPIN_US): for each limit, decode and prefill speed of bench_engine at
# -t <cores> on a quiet machine (spinning pays there), and the aggregate rate of two
# contexts of <cores> threads decoding at once (sleeping pays there), from
# test_pool_oversubscribe. Rounds interleave the limits. Prints one line per run.
# Usage: bench/spin_limit.sh BUILD_DIR MODEL ROUNDS LIMIT_US...
set -eu
build=$1 model=$2 rounds=$3; shift 3
t=$(nproc)
r=1
while [ "$r" -le "$rounds" ]; do
  for us in "$@"; do
    res=$(AK_SPIN_US=$us "$build/bench/bench_engine" -m "$model" -p 64 -n 64 -r 3 -t "$t" | tail -1)
    over=$(AK_SPIN_US=$us "$build/tests/model/test_pool_oversubscribe" 2>/dev/null | head -1)
    echo "spin_us=$us load=$(cut -d' ' -f1 /proc/loadavg) $(echo "$res" | grep -o 'pp_tps=[0-9.]* tg_tps=[0-9.]*') $(echo "$over" | grep -o '2 contexts x [0-9]* threads [0-9]* tok/s ([0-9.]*x)' | sed 's/ /_/g')"
  done
  r=$((r + 1))
done
