#!/usr/bin/env bash
# python/moeprobe (issue 14) with Debian's h5py / numpy / xarray (/usr/bin/python3, modules from
# scripts/install-deps.sh; missing = FAIL): on a tiny-olmoe run with every analysis, every table of
# the reader equals the archive read with h5py (tests/cli/py/reader_check.py), including the
# README's two one-liners; `pip install ./python` into a folder installs a package that imports;
# a newer schema version than the reader knows is refused.
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/python_reader; mkdir -p "$T"
PY=/usr/bin/python3
source "$R/tests/cli/lib/small_run.bash"
small_run python_reader olmoe "h5py, numpy, xarray, pandas"
A=$T/out/tiny-olmoe.h5
PYTHONPATH="$R/python" $PY "$R/tests/cli/py/reader_check.py" "$A" 2>"$T/check.err" \
  || echo "FAIL python_reader/checks: $(tail -3 "$T/check.err" | tr '\n' ' ')"

# pip install ./python (no network: the dependencies are Debian's)
if $PY -m pip install --quiet --no-deps --no-build-isolation --target "$T/site" "$R/python" >"$T/pip.log" 2>&1 \
   && (cd "$T" && PYTHONPATH="$T/site" $PY -c "import moeprobe, sys; sys.exit(0 if moeprobe.__file__.startswith('$T/site') else 1)"); then
  echo "PASS python_reader/pip_install"
else
  echo "FAIL python_reader/pip_install: $(tail -3 "$T/pip.log" | tr '\n' ' ')"
fi

# an archive newer than the reader is refused by name
cp "$A" "$T/future.h5"
$PY -c "import h5py, sys; h5py.File(sys.argv[1], 'a').attrs['schema_version'] = 99" "$T/future.h5"
out=$(PYTHONPATH="$R/python" $PY -c "import moeprobe, sys; moeprobe.open(sys.argv[1])" "$T/future.h5" 2>&1)
if echo "$out" | grep -q "schema version 99 is newer"; then echo "PASS python_reader/newer_schema_refused"
else echo "FAIL python_reader/newer_schema_refused: $(echo "$out" | tail -1)"; fi
