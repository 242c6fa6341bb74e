# cli_lib.sh - what the evaluation CLI tests share (sourced): a scratch folder $DIR removed
# on exit, `check NAME COND...` and `expect_error PATTERN CMD...` (a non-zero exit below 128,
# i.e. not a crash, and PATTERN on stderr), both setting fail=1 on a failure.
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail=0
check() { # check NAME COND...
  local name=$1
  shift
  if "$@"; then :; else echo "FAIL: $name" >&2; fail=1; fi
}
expect_error() { # expect_error PATTERN CMD...
  local pat=$1
  shift
  "$@" > "$DIR/e.out" 2> "$DIR/e.err"
  local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ] || ! grep -q -e "$pat" "$DIR/e.err"; then
    echo "FAIL: '$*' -> rc $rc, stderr: $(cat "$DIR/e.err")" >&2
    fail=1
  fi
}
