#!/usr/bin/env bash
# run_unittest.sh PYTHON TESTS_DIR - the package's unit tests; a missing NumPy or PyTorch is
# a failure that names the Debian packages, never a skip.
set -u
py=$1 dir=$2
if ! "$py" -c "import numpy, torch" 2>/dev/null; then
  echo "FAIL: $py cannot import numpy and torch: install python3-numpy python3-torch (scripts/install-deps.sh)"
  exit 1
fi
cd "$dir" && exec "$py" -m unittest discover -s . -p 'test_*.py' -v
