#!/usr/bin/env bash
# Archives of an older layout (issue 14): an archive made to look like schema version 1 (no root
# schema_version, no part schema marks, no dimension scales) is read by `moeprobe report`, which
# names its schema version, and by python/moeprobe; resuming it with this build is refused with a
# message that names the part, its schema version and what to do, and changes nothing.
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/old_archive; mkdir -p "$T"
PY=/usr/bin/python3
if ! $PY -c "import h5py, xarray" 2>"$T/import.err"; then
  echo "FAIL old_archive/python_modules: $(tail -1 "$T/import.err") (run scripts/install-deps.sh)"; exit 1
fi
cfg() {  # relations
  cat <<YAML
model: $R/models/tiny-llama
relations: [$1]
relations_dir: $R/data/lre
out: $T/out
max_samples: 3
stages: [capture, evaluate, attribute, summarise]
YAML
}
cfg country_capital_city > "$T/one.yaml"
cfg "country_capital_city, adj_antonym" > "$T/two.yaml"
if "$B" run "$T/one.yaml" >/dev/null 2>"$T/run.err"; then echo "PASS old_archive/run"
else echo "FAIL old_archive/run: $(tail -2 "$T/run.err" | tr '\n' ' ')"; fi
A=$T/out/tiny-llama.h5
# back to version 1: no schema marks, no scales
$PY - "$A" "$T"/out/tiny-llama.h5.parts/*.h5 <<'PY'
import sys, h5py
snap, parts = sys.argv[1], sys.argv[2:]
with h5py.File(snap, "a") as f:
    del f.attrs["schema_version"]
    scales = []
    f.visititems(lambda n, o: scales.append(n) if isinstance(o, h5py.Dataset) and o.attrs.get("CLASS") == b"DIMENSION_SCALE" else None)
    for n in scales:
        for d in f[n].parent.values():  # detach before deleting
            if isinstance(d, h5py.Dataset) and d.name != f[n].name:
                for i, dim in enumerate(d.dims):
                    if f[n] in [s for s in dim.values()]:
                        dim.detach_scale(f[n])
        del f[n]
for p in parts:
    with h5py.File(p, "a") as f:
        del f.attrs["moeprobe_unit_schema_version"]
PY
# the edited snapshot gets a matching checksum (report refuses an archive that does not match
# its sidecar); the parts keep theirs as they were
(cd "$T/out" && sha256sum tiny-llama.h5 > tiny-llama.h5.sha256)
cp "$A" "$T/before.h5"

out=$("$B" report "$A" --out "$T/report" 2>&1)
if [ $? -eq 0 ] && grep -q "version 1" "$T"/report/index.html 2>/dev/null; then echo "PASS old_archive/report_reads_it"
else echo "FAIL old_archive/report_reads_it: $(echo "$out" | tail -2 | tr '\n' ' ')"; fi
if PYTHONPATH="$R/python" $PY -c "
import moeprobe, sys
a = moeprobe.open(sys.argv[1])
assert a.schema_version == 1, a.schema_version
assert a.summary.loc['country_capital_city', 'n'] == 3
assert len(a.neurons('country_capital_city', 100)) > 0
assert a.attribution('country_capital_city')['ffn_gain'].dims == ('sample', 'layer')
" "$A" 2>"$T/py.err"; then echo "PASS old_archive/python_reads_it"
else echo "FAIL old_archive/python_reads_it: $(tail -2 "$T/py.err" | tr '\n' ' ')"; fi

"$B" run "$T/two.yaml" >/dev/null 2>"$T/resume.err"
rc=$?
if [ $rc -ne 0 ] && grep -q "schema version 1" "$T/resume.err" && grep -q "cannot add units" "$T/resume.err"; then
  echo "PASS old_archive/resume_refused_clearly"
else
  echo "FAIL old_archive/resume_refused_clearly: rc $rc: $(tail -2 "$T/resume.err" | tr '\n' ' ')"
fi
if cmp -s "$A" "$T/before.h5" && [ ! -e "$T/out/tiny-llama.h5.parts/capture%2Fadj_antonym.h5" ]; then
  echo "PASS old_archive/resume_changed_nothing"
else
  echo "FAIL old_archive/resume_changed_nothing: the archive or its parts changed"
fi
