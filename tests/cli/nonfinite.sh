#!/usr/bin/env bash
# Non-finite numbers never get scored (issue 13 point 1): a copy of a tiny fixture model with
# one NaN in a norm weight (and one with +Inf in the final norm) makes `moeprobe run` fail the
# unit, exit non-zero and name the layer, the block and the tensor — in one process and under
# MPI with 2 and 3 ranks (through the one fatal path: rank named, MPI_Abort). The untouched model
# runs the same config with exit 0, so the checks can fail both ways.
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/nonfinite; rm -rf "$T"; mkdir -p "$T"
B=$MOEPROBE_BIN
export OMPI_MCA_ess_singleton_isolated=1
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
cd "$R"
ok() { echo "PASS nonfinite/$1"; }
bad() { echo "FAIL nonfinite/$1: $2"; }
MPIRUN="mpirun --oversubscribe --allow-run-as-root"

# poke MODEL_DIR TENSOR INDEX VALUE: overwrite one element of a stored tensor (any shard)
poke() {
  /usr/bin/python3 - "$@" <<'PY'
import json, math, struct, sys, glob, os
d, name, idx, val = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
for p in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
    with open(p, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        if name not in hdr:
            continue
        t = hdr[name]
        a, _ = t["data_offsets"]
        if t["dtype"] == "F32":
            size, raw = 4, struct.pack("<f", val)
        elif t["dtype"] == "BF16":
            size, raw = 2, struct.pack("<f", val)[2:]
        else:  # F16
            size, raw = 2, struct.pack("<e", val)
        f.seek(8 + n + a + idx * size)
        f.write(raw)
        sys.exit(0)
sys.exit("tensor %s not found in %s" % (name, d))
PY
}

mkcfg() {  # FILE MODEL OUT
  cat > "$1" <<Y
model: $2
relations: [adj_antonym]
out: $3
stages: [capture, evaluate]
max_samples: 6
Y
}

cp -r models/tiny-qwen2moe "$T/nan-model"
poke "$T/nan-model" model.layers.1.post_attention_layernorm.weight 3 nan || { bad setup "poke failed"; exit 0; }
cp -r models/tiny-qwen2moe "$T/inf-model"
poke "$T/inf-model" model.norm.weight 0 inf || { bad setup "poke failed"; exit 0; }

# the untouched model: exit 0
mkcfg "$T/good.yaml" models/tiny-qwen2moe "$T/good"
"$B" run "$T/good.yaml" > /dev/null 2> "$T/good.err"; rc=$?
[ $rc = 0 ] && ok clean_model_runs || bad clean_model_runs "rc=$rc $(tail -3 "$T/good.err")"

TENSOR=model.layers.1.post_attention_layernorm.weight
for np in 1 2 3; do
  out=$T/nan$np; mkcfg "$T/nan$np.yaml" "$T/nan-model" "$out"
  if [ $np = 1 ]; then "$B" run "$T/nan$np.yaml" > "$T/nan$np.out" 2> "$T/nan$np.err"; rc=$?
  else $MPIRUN -np $np "$B" run "$T/nan$np.yaml" > "$T/nan$np.out" 2> "$T/nan$np.err"; rc=$?; fi
  [ $rc != 0 ] && ok "nan_norm_weight_np$np/exits_non_zero" || bad "nan_norm_weight_np$np/exits_non_zero" "rc=$rc"
  grep -q "non-finite value (NaN) in the residual stream after layer 1, the MLP/MoE block" "$T/nan$np.err" &&
    grep -q "tensor $TENSOR (model-[0-9-]*of-[0-9]*.safetensors) holds NaN at element 3" "$T/nan$np.err" &&
    ok "nan_norm_weight_np$np/message_names_layer_and_tensor" ||
    bad "nan_norm_weight_np$np/message_names_layer_and_tensor" "$(grep -v '^moeprobe:' "$T/nan$np.err" | head -5)"
  # nothing committed for the failed unit: no archive claims a rank for it
  if [ -f "$out/nan-model.h5" ] && h5dump -n "$out/nan-model.h5" 2>/dev/null | grep -q "capture/adj_antonym"; then
    bad "nan_norm_weight_np$np/nothing_committed" "the archive holds capture/adj_antonym"
  else ok "nan_norm_weight_np$np/nothing_committed"; fi
  "$B" status "$out" > "$T/nan$np.status" 2>&1
  grep -q "nan-model capture/adj_antonym: .*$TENSOR" "$T/nan$np.status" &&
    ok "nan_norm_weight_np$np/status_says_failed_and_why" ||
    bad "nan_norm_weight_np$np/status_says_failed_and_why" "$(cat "$T/nan$np.status")"
done
grep -q "rank [0-9]" "$T/nan2.err" && ok nan_norm_weight_np2/fatal_names_rank || bad nan_norm_weight_np2/fatal_names_rank "$(grep -i fatal "$T/nan2.err" | head -2)"

mkcfg "$T/inf.yaml" "$T/inf-model" "$T/inf"
"$B" run "$T/inf.yaml" > /dev/null 2> "$T/inf.err"; rc=$?
[ $rc != 0 ] && grep -q "in the logits after the final norm and lm_head" "$T/inf.err" &&
  grep -q "tensor model.norm.weight ([^)]*) holds +Inf at element 0" "$T/inf.err" &&
  ok inf_final_norm_names_tensor || bad inf_final_norm_names_tensor "rc=$rc $(grep -v '^moeprobe:' "$T/inf.err" | head -3)"

# trace goes through the same forward pass
"$B" trace --model "$T/nan-model" --prompt "The opposite of hot is" --out "$T/trace.h5" > /dev/null 2> "$T/trace.err"; rc=$?
[ $rc != 0 ] && grep -q "$TENSOR" "$T/trace.err" && ok trace_refuses_nan || bad trace_refuses_nan "rc=$rc $(tail -2 "$T/trace.err")"
# ... and leaves no temp archive (OUT.tmp.<pid>, its parts folder, checksum, locks) behind: rank 0
# removes it in comm_fatal's hook, or on the SIGTERM the launcher sends after another rank's
# MPI_Abort
left=$(ls -d "$T"/trace.h5* 2>/dev/null)
[ -z "$left" ] && ok trace_fatal_leaves_no_temp || bad trace_fatal_leaves_no_temp "left: $left"
$MPIRUN -np 2 "$B" trace --model "$T/nan-model" --prompt "The opposite of hot is" --prompt "The capital of France is" \
  --out "$T/trace2.h5" > /dev/null 2> "$T/trace2.err"; rc=$?
left=$(ls -d "$T"/trace2.h5* 2>/dev/null)
[ $rc != 0 ] && [ -z "$left" ] && ok trace_fatal_np2_leaves_no_temp ||
  bad trace_fatal_np2_leaves_no_temp "rc=$rc left: $left $(tail -2 "$T/trace2.err")"
