#!/usr/bin/env bash
# The archive's provenance (issue 14): model name, checkpoint identity (file names, sizes, SHA-256
# of each safetensors header and of config.json / tokenizer.json), SHA-256 of every relation
# file, the command line, library versions, the kernels' ISA path and the dirty flag, each
# recomputed independently with Python's hashlib; a renamed archive keeps the model's name; a
# checkpoint whose safetensors header length does not fit the file is refused with the file and
# offset named.
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/provenance; mkdir -p "$T"
PY=/usr/bin/python3
if ! $PY -c "import h5py" 2>"$T/import.err"; then
  echo "FAIL provenance/python_modules: $(tail -1 "$T/import.err") (run scripts/install-deps.sh)"; exit 1
fi
mkdir -p "$T/lre" && cp "$R/data/lre/country_capital_city.json" "$R/data/lre/adj_antonym.json" "$T/lre/"
cat > "$T/run.yaml" <<YAML
model: $R/models/tiny-olmoe
relations: [country_capital_city, adj_antonym]
relations_dir: $T/lre
out: $T/out
max_samples: 2
stages: [capture, evaluate]
YAML
if "$B" run "$T/run.yaml" --unit capture/adj_antonym >/dev/null 2>"$T/run.err"; then echo "PASS provenance/run"
else echo "FAIL provenance/run: $(tail -2 "$T/run.err" | tr '\n' ' ')"; fi
mv "$T/out/tiny-olmoe.h5" "$T/renamed.h5"
$PY - "$T/renamed.h5" "$R/models/tiny-olmoe" "$T/lre" "$B" <<'PY'
import hashlib, json, os, struct, subprocess, sys
import h5py
path, model, lre, binary = sys.argv[1:5]
a = h5py.File(path, "r").attrs
def check(cond, name, why):
    print(("PASS " if cond else "FAIL ") + "provenance/" + name + ("" if cond else ": " + str(why)))
def sha(p, start=0, n=None):
    with open(p, "rb") as f:
        f.seek(start)
        return hashlib.sha256(f.read() if n is None else f.read(n)).hexdigest()
check(a.get("model_name") == "tiny-olmoe", "model_name_survives_rename", a.get("model_name"))
ck = json.loads(a["checkpoint"])
files = sorted(f for f in os.listdir(model) if f.endswith(".safetensors"))
check([f["name"] for f in ck["files"]] == files, "checkpoint_files", ck["files"])
ok = True
for f in ck["files"]:
    p = os.path.join(model, f["name"])
    n = struct.unpack("<Q", open(p, "rb").read(8))[0]
    ok &= f["bytes"] == os.path.getsize(p) and f["header_sha256"] == sha(p, 8, n)
check(ok and files, "checkpoint_header_sha256", ck["files"])
check(ck.get("config_json_sha256") == sha(os.path.join(model, "config.json")) and
      ck.get("tokenizer_json_sha256") == sha(os.path.join(model, "tokenizer.json")),
      "config_tokenizer_sha256", ck)
rels = json.loads(a["relation_files"])
check(sorted(r["id"] for r in rels) == ["adj_antonym", "country_capital_city"] and
      all(r["sha256"] == sha(r["file"]) and r["file"].startswith(lre) for r in rels),
      "relation_sha256", rels)
check(a.get("command_line", "").startswith("moeprobe run ") and a["command_line"].endswith("--unit capture/adj_antonym"),
      "command_line", a.get("command_line"))
vers = {k: a.get(k, "") for k in ("hdf5_version", "mpi_library", "openblas", "libyaml", "compiler")}
check(all(vers.values()) and vers["hdf5_version"][0].isdigit() and "MPI" in vers["mpi_library"]
      and "OpenBLAS" in vers["openblas"], "library_versions", vers)
units = sorted(h5py.File(path, "r")["units"].keys())
check(units == ["capture%2Fadj_antonym"], "only_the_selected_unit_ran", units)
isa = a.get("kernel_isa", "")
flags = open("/proc/cpuinfo").read()
want = ("neon" if os.uname().machine == "aarch64" else
        "avx512" if all(x in flags for x in (" avx512f", " avx512bw", " avx512vl", " avx512dq")) else
        "avx2" if all(x in flags for x in (" avx2", " fma")) else "generic")
want = os.environ.get("MOEPROBE_ISA") or want
check(isa == want, "kernel_isa_matches_cpu", f"{isa!r} on a CPU whose best kernel path is {want}")
dirty = int(a["build_dirty"])
check(dirty in (0, 1) and a["git_commit"].endswith("+dirty") == bool(dirty), "dirty_flag", (dirty, a["git_commit"]))
PY
[ $? -eq 0 ] || echo "FAIL provenance/checks: the Python checks stopped (traceback above)"

# the report names the model as the run did, not as the file is now called
if "$B" report "$T/renamed.h5" --out "$T/report" --format markdown >/dev/null 2>"$T/report.err" &&
   grep -q "^# moeprobe report: tiny-olmoe$" "$T/report/report.md"; then
  echo "PASS provenance/report_uses_model_name"
else
  echo "FAIL provenance/report_uses_model_name: $(tail -2 "$T/report.err" | tr '\n' ' ') $(grep -m2 '^###' "$T/report/report.md" 2>/dev/null | tr '\n' ' ')"
fi

# a shard whose header length runs past the end of the file
mkdir -p "$T/badmodel" && cp -r "$R/models/tiny-olmoe/." "$T/badmodel/"
shard=$(ls "$T"/badmodel/*.safetensors | head -1)
$PY -c "
import struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[0:8] = struct.pack('<Q', len(b) * 2)
open(p, 'wb').write(b)" "$shard"
sed "s|model: .*|model: $T/badmodel|; s|out: .*|out: $T/badout|" "$T/run.yaml" > "$T/bad.yaml"
"$B" run "$T/bad.yaml" >/dev/null 2>"$T/bad.err"
rc=$?
if [ $rc -ne 0 ] && grep -q "$(basename "$shard")" "$T/bad.err" && grep -q "offset 0\|header" "$T/bad.err"; then
  echo "PASS provenance/bad_header_named"
else
  echo "FAIL provenance/bad_header_named: rc $rc: $(tail -2 "$T/bad.err" | tr '\n' ' ')"
fi
