#!/usr/bin/env bash
# The archive as other tools see it: a sample written by test_archive --make-sample must be a
# plain HDF5 file that h5py reads (values, dimension labels, provenance, /units). Debian's h5py
# (scripts/install-deps.sh, /usr/bin/python3): a missing module is a FAIL, never a skip.
set -u
BIN_DIR=$(dirname "$MOEPROBE_BIN")
T="$MOEPROBE_TEST_TMP/archive-h5py"
mkdir -p "$T"
if "$BIN_DIR/tests/test_archive" --make-sample "$T/run.h5" && [ -f "$T/run.h5" ] \
   && [ -f "$T/run.h5.parts/capture%2Fa.h5" ] && [ ! -e "$T/run.h5.tmp" ]; then
  echo "PASS archive_h5py.sample_written"
else
  echo "FAIL archive_h5py.sample_written: test_archive --make-sample failed"
  exit 1
fi
if ! /usr/bin/python3 -c "import h5py, numpy" 2>"$T/import.err"; then
  echo "FAIL archive_h5py.python_modules: $(tail -1 "$T/import.err") (run scripts/install-deps.sh)"
  exit 1
fi
/usr/bin/python3 - "$T/run.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
def check(cond, name, why=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + why))
d = f["capture/rel_a/u2/resid_pre"]
exp = ((2 * 1000000 + np.arange(3000 * 32, dtype=np.float64)) * 0.5).astype(np.float32).reshape(3000, 4, 8)
check(d.dtype == np.float32 and d.shape == (3000, 4, 8) and np.array_equal(d[...], exp),
      "archive_h5py.values", str(d))
check([x.label for x in d.dims] == ["sample", "layer", "hidden"], "archive_h5py.dim_labels",
      str([x.label for x in d.dims]))
check(d.compression == "gzip" and d.shuffle and d.chunks is not None, "archive_h5py.chunked_compressed",
      f"{d.compression} {d.shuffle} {d.chunks}")
a = f.attrs
check(a["model_config_json"] == '{"model_type": "olmoe"}' and int(a["mpi_ranks"]) == 2
      and int(a["units_complete"]) == 2 and isinstance(a["created"], str), "archive_h5py.provenance", str(dict(a)))
units = sorted(f["units"][k].attrs["unit_id"] for k in f["units"])
check(units == ["capture/a", "capture/b"], "archive_h5py.units", str(units))
m = f["metrics/rel_a"].attrs
check(float(m["value_u1"]) == 1.25 and float(m["value_u2"]) == 2.25, "archive_h5py.merged_attrs", str(dict(m)))
PY
