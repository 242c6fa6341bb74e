#!/usr/bin/env bash
# CLI tests of `adaptive-k route` and `adaptive-k calibrate-logits`.
#   test_cli.sh CASE ADAPTIVE_K SOURCE_DIR CHECK_ROUTES WORK_DIR GEN_SYNTHETIC_LOGITS
# The input is synthetic: [4 layers][512 tokens][64 experts] (gen_synthetic_logits.c).
set -u
case_name=$1 AK=$2 SRC=$3 CHECK=$4 WORK=$5 GEN=$6
mkdir -p "$WORK" && cd "$WORK" || exit 1
SAMPLE=$WORK/synthetic_router_logits.npy
"$GEN" "$SAMPLE" || { echo "FAIL: $GEN did not write $SAMPLE" >&2; exit 1; }
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# run NAME ARGS...: runs adaptive-k, keeps stdout in NAME.out, stderr in NAME.err, status in rc
run() {
  local name=$1; shift
  "$AK" "$@" >"$name.out" 2>"$name.err"; rc=$?
}
expect_ok() { [ "$rc" -eq 0 ] || fail "$1: exit $rc: $(cat "$1.err")"; }
# expect_error NAME PATTERN: non-zero exit, stderr matches PATTERN (grep -E), no crash
expect_error() {
  if [ "$rc" -eq 0 ]; then fail "$1: succeeded, expected an error"; fi
  if [ "$rc" -ge 128 ]; then fail "$1: crashed (exit $rc)"; fi
  grep -Eq -- "$2" "$1.err" || fail "$1: stderr does not match '$2': $(cat "$1.err")"
}
# field NAME REGEX: first capture of a sed regex in NAME.out
field() { sed -nE "s/$2/\1/p" "$1.out" | head -n1; }
# close A B TOL: |A - B| <= TOL
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t) }'; }

case $case_name in
policies)
  # fixed k=2: every token runs 2 experts; saved is 1 - 2/8 against --k-native 8
  run fixed route "$SAMPLE" --policy fixed --k 2 --k-native 8
  expect_ok fixed
  [ "$(field fixed '^  average K ([0-9.]+) vs native top-8.*')" = 2.000 ] || fail "fixed: average K is not 2.000"
  grep -q "75.0% of the routed-expert FFN compute saved" fixed.out || fail "fixed: saved is not 75.0%"
  grep -Eq '^ +K=2 +2048 +100.0%' fixed.out || fail "fixed: histogram is not all K=2"
  # without --k-native the baseline is the fixed k itself: nothing saved
  run fixed_native route "$SAMPLE" --k 4
  expect_ok fixed_native
  grep -q "average K 4.000 vs native top-4: 0.0%" fixed_native.out || fail "fixed_native: baseline"

  run entropy route "$SAMPLE" --policy entropy
  expect_ok entropy
  grep -q "entropy" entropy.out || fail "entropy: policy not described"
  avg=$(field entropy '^  average K ([0-9.]+) vs native top-4.*')
  [ -n "$avg" ] || fail "entropy: no average K line"
  # the 'all' row: avg K, saved %, p10, p50, p90, then the shares of K=1, K=2, K=4
  read -r _ row_avg row_saved p10 p50 p90 _ s1 s2 s4 < <(grep -E '^ +all ' entropy.out | tr -d '%')
  [ "$row_avg" = "$avg" ] || fail "entropy: table avg $row_avg != summary avg $avg"
  close "$row_saved" "$(awk -v a="$avg" 'BEGIN { printf "%.1f", 100 * (1 - a / 4) }')" 0.05 || fail "entropy: saved $row_saved"
  # avg K recomputed from the shares of K = 1, 2, 4
  close "$avg" "$(awk -v a="$s1" -v b="$s2" -v c="$s4" 'BEGIN { print (a + 2 * b + 4 * c) / 100 }')" 0.01 ||
    fail "entropy: avg $avg does not match the histogram shares $s1/$s2/$s4"
  # percentiles agree with an independent recomputation (check_routes, double precision)
  run entropy_npy route "$SAMPLE" --policy entropy --out ent.npy --quiet
  expect_ok entropy_npy
  run entropy_jsonl route "$SAMPLE" --policy entropy --out ent.jsonl --quiet
  expect_ok entropy_jsonl
  [ ! -s entropy_jsonl.out ] || fail "entropy_jsonl: --quiet printed something"
  if ref=$("$CHECK" "$SAMPLE" ent entropy 0.6 1.2); then
    read -r _ ref_avg _ r10 _ r50 _ r90 <<<"$ref"
    [ "$ref_avg" = "$avg" ] || fail "entropy: avg K $avg, recomputed $ref_avg"
    close "$p10" "$r10" 0.011 && close "$p50" "$r50" 0.011 && close "$p90" "$r90" 0.011 ||
      fail "entropy: percentiles $p10/$p50/$p90, recomputed $r10/$r50/$r90"
  else
    fail "entropy: check_routes found wrong decisions"
  fi
  run fixed_npy route "$SAMPLE" --k 3 --out fx.npy --quiet
  run fixed_jsonl route "$SAMPLE" --k 3 --out fx.jsonl --quiet
  "$CHECK" "$SAMPLE" fx fixed 3 >/dev/null || fail "fixed 3: check_routes found wrong decisions"

  run topp route "$SAMPLE" --policy top-p --top-p 0.9 --k-max 16 --k-native 8
  expect_ok topp
  grep -q "top-p" topp.out || fail "top-p: policy not described"
  avg=$(field topp '^  average K ([0-9.]+) vs native top-8.*')
  awk -v a="$avg" 'BEGIN { exit !(a >= 1 && a <= 16) }' || fail "top-p: average K '$avg' outside [1, 16]"
  run ratio route "$SAMPLE" --policy ratio --ratio 0.5 --k-native 8
  expect_ok ratio
  avg=$(field ratio '^  average K ([0-9.]+) vs native top-8.*')
  awk -v a="$avg" 'BEGIN { exit !(a >= 1 && a <= 64) }' || fail "ratio: average K '$avg'"
  # a larger ratio keeps fewer experts
  run ratio2 route "$SAMPLE" --ratio 0.9 --k-native 8
  avg2=$(field ratio2 '^  average K ([0-9.]+) vs native top-8.*')
  awk -v a="$avg" -v b="$avg2" 'BEGIN { exit !(b <= a) }' || fail "ratio 0.9 avg $avg2 > ratio 0.5 avg $avg"
  # flags override: thresholds in bits mean the same as nats * ln 2... so 0.6/ln2 bits == 0.6 nats
  run bits route "$SAMPLE" --thresholds 0.865617,1.731234 --threshold-unit bits --quiet --out bits.npy
  expect_ok bits
  cmp -s bits.k.npy ent.k.npy || fail "thresholds in bits do not reproduce the nats decisions"
  # 2-D input and raw float32 input give the same decisions as the first layer
  tail -c $((512 * 64 * 4 * 4)) "$SAMPLE" | head -c $((512 * 64 * 4)) >layer0.f32
  run raw route layer0.f32 --experts 64 --policy entropy
  expect_ok raw
  grep -q "1 layer x 512 tokens x 64 experts (float32, raw)" raw.out || fail "raw: input line"
  l0=$(grep -E '^ +0 ' entropy.out | awk '{print $2}')
  [ "$(field raw '^  average K ([0-9.]+) vs.*')" = "$l0" ] || fail "raw: avg K differs from layer 0 ($l0)"
  # float16 .npy, 2 tokens x 4 experts, written byte by byte:
  # token 0 = (1, 2, -2, 0.5) -> top expert 1; token 1 = (0, 0, 3, 0) -> top expert 2
  dict="{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }"
  pad=$((128 - 10 - ${#dict} - 1))
  { printf '\x93NUMPY\x01\x00\x76\x00%s%*s\n' "$dict" "$pad" ''
    printf '\x00\x3c\x00\x40\x00\xc0\x00\x38\x00\x00\x00\x00\x00\x42\x00\x00'; } >f16.npy
  run f16 route f16.npy --k 1 --out f16.jsonl
  expect_ok f16
  grep -q "1 layer x 2 tokens x 4 experts (float16 .npy)" f16.out || fail "f16: input line"
  grep -q '"token":0,"k":1,.*"ids":\[1\]' f16.jsonl && grep -q '"token":1,"k":1,.*"ids":\[2\]' f16.jsonl ||
    fail "f16: wrong top experts: $(cat f16.jsonl)"
  # softmax by hand: e^2 / (e + e^2 + e^-2 + e^0.5) = 0.621378; e^3 / (3 + e^3) = 0.870049
  grep -q '"weights":\[0.62137' f16.jsonl && grep -q '"weights":\[0.87004' f16.jsonl || fail "f16: weights"
  run stdout route f16.npy --k 2 --out -
  expect_ok stdout
  [ "$(grep -c '"layer":0' stdout.out)" = 2 ] || fail "--out -: JSON lines not on stdout"
  grep -q "average K 2.000" stdout.err || fail "--out -: summary not on stderr"
  # a preset brings the model's native top-k as the baseline
  run preset route "$SAMPLE" --preset olmoe-1b-7b --k 4
  expect_ok preset
  grep -q "average K 4.000 vs native top-8: 50.0%" preset.out || fail "preset: baseline is not OLMoE's top-8"
  grep -q "native top-8 (the preset's k_native)" preset.out || fail "preset: baseline source"
  run help route --help
  expect_ok help
  grep -q -- "--threshold-unit" help.out || fail "route --help lacks the routing flags"
  ;;

calibrate)
  run cal calibrate-logits "$SAMPLE" --target-avg-k 2 -o cal.json
  expect_ok cal
  [ -s cal.json ] || fail "calibrate: no config written"
  run route_cal route "$SAMPLE" --router-config cal.json
  expect_ok route_cal
  avg=$(field route_cal '^  average K ([0-9.]+) vs.*')
  close "$avg" 2 0.04 || fail "calibrated config reaches avg K $avg, target 2 (2%)"
  # per layer: every layer within 2%
  run cal_pl calibrate-logits "$SAMPLE" --target-avg-k 1.5 --per-layer -o cal_pl.json
  expect_ok cal_pl
  run route_pl route "$SAMPLE" --router-config cal_pl.json
  expect_ok route_pl
  n=0
  while read -r layer a _; do
    n=$((n + 1))
    close "$a" 1.5 0.03 || fail "per-layer calibration: layer $layer avg K $a, target 1.5"
  done < <(grep -E '^ +[0-9]+ +[0-9.]+ ' route_pl.out)
  [ "$n" = 4 ] || fail "per-layer: expected 4 layer rows, got $n"
  # flags after the config override it
  run route_over route "$SAMPLE" --router-config cal.json --k 1
  grep -q "average K 1.000" route_over.out || fail "--k after --router-config does not override"
  # top-p calibration and a held-out split
  run cal_topp calibrate-logits "$SAMPLE" --policy top-p --top-p 0.5 --target-avg-k 3 --holdout 0.25 -o cal_topp.json
  expect_ok cal_topp
  grep -q "held-out average K" cal_topp.out || fail "holdout: no held-out line"
  run route_topp route "$SAMPLE" --router-config cal_topp.json
  avg=$(field route_topp '^  average K ([0-9.]+) vs.*')
  awk -v a="$avg" 'BEGIN { exit !(a > 2.5 && a < 3.5) }' || fail "top-p calibrated avg $avg far from 3"
  run cal_fixed calibrate-logits "$SAMPLE" --k 2 --target-avg-k 2 -o x.json
  expect_error cal_fixed "fixed policy has nothing to calibrate"
  run cal_noout calibrate-logits "$SAMPLE" --target-avg-k 2
  expect_error cal_noout "-o OUT.json"
  run cal_help calibrate-logits --help
  expect_ok cal_help
  ;;

errors)
  run missing route no-such-file.npy
  expect_error missing "no-such-file.npy: No such file"
  head -c 1000 "$SAMPLE" >trunc.npy
  run trunc route trunc.npy
  expect_error trunc "trunc.npy: data truncated"
  head -c 50 "$SAMPLE" >trunc_header.npy
  run trunc_header route trunc_header.npy
  expect_error trunc_header "trunc_header.npy.*truncated inside the header"
  run wrong_experts route "$SAMPLE" --experts 32
  expect_error wrong_experts "64 experts but --experts says 32"
  head -c 1000 /dev/zero >odd.f32
  run raw_size route odd.f32 --experts 64
  expect_error raw_size "odd.f32: size 1000 bytes is not a positive multiple of 4 x 64"
  run raw_noexperts route odd.f32
  expect_error raw_noexperts "odd.f32: not a .npy file; raw float32 input needs --experts"
  # 2 tokens x 4 experts, the 7th value NaN (token 1, expert 2)
  printf '\x00\x00\x80\x3f\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x00\x00\x00\xc0\x7f\x00\x00\x00\x00' >nan.f32
  run nan route nan.f32 --experts 4 --k 1
  expect_error nan "nan.f32: layer 0: .*(NaN|nan|non-finite|not finite)"
  run nan_out route nan.f32 --experts 4 --k 1 --out nan_routes.jsonl
  expect_error nan_out "layer 0"
  [ ! -e nan_routes.jsonl ] || fail "a failed route left a partial output file"
  run nan_npy route nan.f32 --experts 4 --k 1 --out nan_routes.npy
  expect_error nan_npy "expert 2"
  ! ls nan_routes.*.npy >/dev/null 2>&1 || fail "a failed route left partial .npy files"
  cp nan.f32 keep.f32
  run overwrite route keep.f32 --experts 4 --k 1 --out keep.f32
  expect_error overwrite "would overwrite the input"
  cmp -s nan.f32 keep.f32 || fail "--out onto the input damaged it"
  run bad_thresholds route "$SAMPLE" --thresholds 1.2,0.6
  expect_error bad_thresholds "invalid policy"
  run bad_count route "$SAMPLE" --k-values 1,2,4 --thresholds 0.5
  expect_error bad_count "3 k-values need 2 thresholds"
  run bad_number route "$SAMPLE" --thresholds 0.6,abc
  expect_error bad_number "--thresholds '0.6,abc'"
  run unknown_policy route "$SAMPLE" --policy bogus
  expect_error unknown_policy "unknown policy 'bogus'"
  run big_k route "$SAMPLE" --k 65
  expect_error big_k "invalid policy"
  run conflict route "$SAMPLE" --k 2 --top-p 0.9
  expect_error conflict "select different policies"
  run kmin route "$SAMPLE" --policy entropy --k-min 2
  expect_error kmin "k-min/--k-max apply to the top-p and ratio"
  run topp_noparam route "$SAMPLE" --policy top-p
  expect_error topp_noparam "needs --top-p"
  run unknown_flag route "$SAMPLE" --bogus
  expect_error unknown_flag "unknown option '--bogus'"
  run noinput route --k 2
  expect_error noinput "no INPUT"
  run missing_value route "$SAMPLE" --k
  expect_error missing_value "--k needs a value"
  printf '{"n_experts": 64,' >broken.json
  run bad_config route "$SAMPLE" --router-config broken.json
  expect_error bad_config "broken.json"
  run cal_unreachable calibrate-logits "$SAMPLE" --target-avg-k 9 -o y.json
  expect_error cal_unreachable "."
  [ ! -e y.json ] || fail "a failed calibration wrote its output"
  ;;
*)
  echo "unknown case $case_name" >&2; exit 2 ;;
esac

if [ "$fails" -ne 0 ]; then echo "$case_name: $fails failure(s)" >&2; exit 1; fi
echo "$case_name: ok"
