#!/usr/bin/env bash
# The archive as netCDF-4 / xarray see it (issue 14): runs like the demo's (tiny-qwen2moe with a
# shared expert under mpirun -np 2, tiny-llama dense, tiny-olmoe with capture.positions all),
# then tests/cli/py/xarray_check.py opens every group with xarray (engine h5netcdf) and with
# netCDF4-python and fails on a phony_dim_*, a dimension used with two lengths or twice by one
# variable, a variable named like a dimension it is not the coordinate of, a data variable
# without units, and checks the coordinates (captured_layer holds the kept layers) and the
# root Conventions / schema_version. The Python modules come from Debian
# (scripts/install-deps.sh); a missing module is a FAIL, never a skip.
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/archive_xarray; mkdir -p "$T"
PY=/usr/bin/python3
if ! $PY -c "import h5py, numpy, xarray, h5netcdf, netCDF4" 2>"$T/import.err"; then
  echo "FAIL archive_xarray/python_modules: $(tail -1 "$T/import.err") (run scripts/install-deps.sh)"
  exit 1
fi
echo "PASS archive_xarray/python_modules"
run() {  # name, model, np, extra YAML
  local name=$1 m=$2 np=$3 extra=$4
  cat > "$T/$name.yaml" <<YAML
model: $R/models/tiny-$m
relations: [country_capital_city, adj_antonym]
relations_dir: $R/data/lre
out: $T/$name
max_samples: 4
stages: [capture, evaluate, attribute, summarise, block, heads_experts, neurons]
snapshot_every_s: 1e9  # one rebuild at the end: the same archive, without one per unit
$extra
YAML
  if mpirun --oversubscribe --allow-run-as-root -np "$np" "$B" run "$T/$name.yaml" >/dev/null 2>"$T/$name.err"; then
    echo "PASS archive_xarray/$name/run"
  else
    echo "FAIL archive_xarray/$name/run: $(tail -3 "$T/$name.err" | tr '\n' ' ')"
  fi
  if grep -q "dimension scale\|clashes with the dimension" "$T/$name.err"; then
    echo "FAIL archive_xarray/$name/no_scale_warnings: $(grep -m2 'dimension' "$T/$name.err" | tr '\n' ' ')"
  else
    echo "PASS archive_xarray/$name/no_scale_warnings"
  fi
}
run moe_shared qwen2moe 2 ""
run dense llama 1 ""
run all_positions olmoe 1 "capture:
  positions: all
  layers: [1, 3]"
$PY "$R/tests/cli/py/xarray_check.py" "$T/moe_shared/tiny-qwen2moe.h5" "$T/dense/tiny-llama.h5" \
  "$T/all_positions/tiny-olmoe.h5"

# the checker itself fails on an archive without scales: a part file (units are plain HDF5 with
# dimension labels only; the snapshot adds the scales)
part=$(ls "$T"/dense/tiny-llama.h5.parts/capture*.h5 2>/dev/null | head -1)
if [ -n "$part" ]; then
  out=$($PY "$R/tests/cli/py/xarray_check.py" --expect-fail "$part" 2>&1)
  if echo "$out" | grep -q "phony"; then echo "PASS archive_xarray/check_finds_phony_dims"
  else echo "FAIL archive_xarray/check_finds_phony_dims: $(echo "$out" | tail -2 | tr '\n' ' ')"; fi
else
  echo "FAIL archive_xarray/check_finds_phony_dims: no part file in $T/dense/tiny-llama.h5.parts"
fi
