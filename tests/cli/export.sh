#!/usr/bin/env bash
# moeprobe export ARCHIVE --csv DIR (issue 14): on a tiny-qwen2moe run (MoE with a shared expert,
# every analysis) the six CSV files are well-formed (one header, equal column counts, RFC 4180
# quoting) and hold the archive's numbers (checked with h5py: Table 1's peak layer, every
# blocking configuration with its drop and blocked experts, the shared-expert ablations, the
# causal pair, the neuron rows); usage errors exit 2, a missing or foreign file exits 1 naming it.
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/export; mkdir -p "$T"
PY=/usr/bin/python3
source "$R/tests/cli/lib/small_run.bash"
small_run export qwen2moe "h5py"
A=$T/out/tiny-qwen2moe.h5
if "$B" export "$A" --csv "$T/csv" >"$T/export.out" 2>"$T/export.err" && [ "$(wc -l <"$T/export.out")" -eq 6 ]; then
  echo "PASS export/writes_six_files"
else
  echo "FAIL export/writes_six_files: $(cat "$T/export.err" "$T/export.out" | tail -3 | tr '\n' ' ')"
fi
$PY - "$A" "$T/csv" <<'PY' || echo "FAIL export/checks: the Python checks stopped"
import csv, sys, h5py
a, d = h5py.File(sys.argv[1], "r"), sys.argv[2]
def check(cond, name, why=""):
    print(("PASS " if cond else "FAIL ") + "export/" + name + ("" if cond else f": {why}"))
def load(name):
    with open(f"{d}/{name}", newline="") as f:
        rows = list(csv.reader(f))
    check(len(rows) > 1 and all(len(r) == len(rows[0]) for r in rows), f"{name}_well_formed",
          [len(r) for r in rows])
    return [dict(zip(rows[0], r)) for r in rows[1:]]
rels = sorted(a["metrics"].keys())
t1 = {r["relation"]: r for r in load("table1.csv")}
check(sorted(t1) == sorted(rels + ["pooled"]) and all(
      float(t1[r]["peak_ffn_layer"]) == a[f"analyses/{r}/summary"].attrs["peak_ffn_layer"] and
      float(t1[r]["stage_share_mid"]) == a[f"analyses/{r}/summary/stage_share"].attrs["mid"] for r in t1),
      "table1_values", list(t1))
m = {r["relation"]: r for r in load("metrics.csv")}
check(all(float(m[r]["mrr_drop_block10"]) == a[f"metrics/{r}"].attrs["mrr_drop_block10"] for r in rels),
      "metrics_values", m)
bl = load("blocking.csv")
want = sorted((r, c) for r in rels for c in a[f"block/{r}"] if c.startswith("block"))
check(sorted((x["relation"], x["config"]) for x in bl) == want, "blocking_rows", len(bl))
ok = True
for x in bl:
    g = a[f"block/{x['relation']}/{x['config']}"]
    exp = ";".join(":".join(str(int(v)) for v in row) for row in g["blocked"][()])
    ok &= float(x["mrr"]) == g.attrs["mrr"] and x["blocked"] == exp and \
          abs(float(x["mrr_drop"]) - (a[f"block/{x['relation']}"].attrs["mrr"] - g.attrs["mrr"])) < 1e-15
check(ok, "blocking_values", bl[:2])
ab = load("ablations.csv")
check({"topk1", "only_top1", "only_shared"} <= {x["config"] for x in ab} and
      not any(x["config"].startswith("block") for x in ab), "ablations_rows", sorted({x["config"] for x in ab}))
he = {r["relation"]: r for r in load("head_expert.csv")}
ok = True
for r in rels:
    p = a.get(f"analyses/{r}/head_expert/pair")
    if p is not None:
        ok &= he[r]["pair_head"] == ":".join(str(int(v)) for v in p["head"][()]) and \
              float(he[r]["pair_r"]) == p.attrs["r"]
check(ok and sorted(he) == rels, "head_expert_values", he)
ne = load("neurons.csv")
want = sorted((r, int(t[3:])) for r in rels for t in a[f"analyses/{r}/neurons"])
check(sorted((x["relation"], int(x["N"])) for x in ne) == want, "neurons_rows", len(ne))
PY

"$B" export "$A" >/dev/null 2>"$T/e1"; rc=$?
[ $rc -eq 2 ] && grep -q "\-\-csv DIR is required" "$T/e1" && echo "PASS export/usage_without_csv" || echo "FAIL export/usage_without_csv: rc $rc"
"$B" export "$T/none.h5" --csv "$T/x" >/dev/null 2>"$T/e2"; rc=$?
[ $rc -eq 1 ] && grep -q "none.h5" "$T/e2" && [ ! -e "$T/x/table1.csv" ] && echo "PASS export/missing_archive_named" \
  || echo "FAIL export/missing_archive_named: rc $rc $(cat "$T/e2")"
$PY -c "import h5py, sys; h5py.File(sys.argv[1], 'w')['x'] = [1]" "$T/foreign.h5"
"$B" export "$T/foreign.h5" --csv "$T/y" >/dev/null 2>"$T/e3"; rc=$?
[ $rc -eq 1 ] && grep -q "foreign.h5.*not a moeprobe run archive" "$T/e3" && echo "PASS export/foreign_file_named" \
  || echo "FAIL export/foreign_file_named: rc $rc $(cat "$T/e3")"
