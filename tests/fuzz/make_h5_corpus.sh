#!/usr/bin/env bash
# make_h5_corpus.sh — writes the seed corpora of the HDF5 harnesses (tests/fuzz/corpus/fuzz_part,
# fuzz_archive) from a tiny real run: tiny-qwen2moe, one relation, one sample, every stage.
# fuzz_part: each committed part, prefixed by the byte that makes the harness name it after its
# unit; the capture part trimmed to its routing datasets (h5py) and repacked. fuzz_archive: the
# snapshot in five trimmed variants (summaries, blocking, heads-experts, neurons, routing; the
# per-sample /captures and /attribution removed, repacked with h5repack -L) so that each stays
# under 100 KB, and an untouched trace archive of tiny-olmoe. A developer tool, run once and
# committed (needs bin/moeprobe, /usr/bin/python3 with h5py, h5repack).
set -eu
R=$(cd "$(dirname "$0")/../.." && pwd)
B=${MOEPROBE_BIN:-$R/bin/moeprobe}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$R"
cat >"$T/seed.yaml" <<Y
model: models/tiny-qwen2moe
relations: [adj_antonym]
out: $T/run
stages: [capture, evaluate, attribute, summarise, heads_experts, neurons, block, report]
max_samples: 1
Y
"$B" run "$T/seed.yaml" >/dev/null 2>&1
"$B" trace --model models/tiny-olmoe --prompt "Paris is in" --object France --out "$T/trace.h5" >/dev/null
/usr/bin/python3 - "$T" "$R/tests/fuzz/corpus" <<'PY'
import os, shutil, subprocess, sys
import h5py
T, C = sys.argv[1], sys.argv[2]
P = os.path.join(T, "run", "tiny-qwen2moe.h5.parts")
def repack(src, dst, drop, keep_in=None):
    tmp = dst + ".tmp"
    shutil.copy(src, tmp)
    with h5py.File(tmp, "r+") as f:
        for k in drop:
            if k in f: del f[k]
        if keep_in:
            g = f[keep_in[0]]
            for k in list(g.keys()):
                if k not in keep_in[1]: del g[k]
    subprocess.check_call(["h5repack", "-L", tmp, dst])
    os.remove(tmp)
# fuzz_part: the order is the harness's UNITS[]
units = ["summarise/adj_antonym", "summarise/pooled", "neurons/adj_antonym", "neurons/cross",
         "block/adj_antonym", "heads_experts/adj_antonym", "capture/adj_antonym"]
os.makedirs(os.path.join(C, "fuzz_part"), exist_ok=True)
for i, u in enumerate(units):
    src = os.path.join(P, u.replace("/", "%2F") + ".h5")
    name = "seed-" + u.replace("/", "-")
    if u.startswith("capture/"):
        trimmed = os.path.join(T, "cap.h5")
        repack(src, trimmed, ["attribution"], ("captures/adj_antonym",
               {"captured_layer", "router_logits", "shared_gate", "topk_idx", "topk_weight"}))
        src, name = trimmed, name + "-trimmed"
    with open(src, "rb") as f: data = f.read()
    with open(os.path.join(C, "fuzz_part", name), "wb") as f: f.write(bytes([i]) + data)
# fuzz_archive
A = os.path.join(C, "fuzz_archive")
os.makedirs(A, exist_ok=True)
snap = os.path.join(T, "run", "tiny-qwen2moe.h5")
base = ["captures", "attribution"]
variants = {
    "a_summary": base + ["routing", "block", "analyses/adj_antonym/head_expert",
                         "analyses/adj_antonym/neurons", "analyses/pooled/neurons", "analyses/cross"],
    "b_block": base + ["routing", "analyses", "evaluate"],
    "c_heads": base + ["routing", "block", "analyses/adj_antonym/neurons", "analyses/pooled",
                       "analyses/cross", "evaluate"],
    "d_neurons": base + ["routing", "block", "analyses/adj_antonym/head_expert", "evaluate"],
    "e_routing": base + ["block", "analyses", "evaluate"],
}
for n, drop in variants.items():
    repack(snap, os.path.join(A, "seed-snapshot-" + n), drop)
shutil.copy(os.path.join(T, "trace.h5"), os.path.join(A, "seed-trace-tiny-olmoe"))
PY
ls -l "$R/tests/fuzz/corpus/fuzz_part" "$R/tests/fuzz/corpus/fuzz_archive"
