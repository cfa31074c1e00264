#!/usr/bin/env bash
# The kernel paths (pipeline/ops/kern.h) on this CPU: trace archives of every path this CPU
# runs (avx512, avx2, neon, generic: `moeprobe --version`) under mpirun -np 1..4 are
# bit-identical to the default path's single-process archive (h5cmp --bits), on an MoE model
# with expert parallelism (mixtral: 8 experts, uneven shares at 3 ranks) and one with shared
# experts and q/k norm (olmoe). Then MOEPROBE_ISA errors: an unknown name and a path this CPU
# cannot run are refused before any work, naming the value and the paths it could take.
set -u
B=$MOEPROBE_BIN; S=$MOEPROBE_SHARED; T=$MOEPROBE_TEST_TMP/isa_paths; mkdir -p "$T"
CMP=$(dirname "$B")/tools/h5cmp
MPI="mpirun --oversubscribe --allow-run-as-root"
ISAS=${MOEPROBE_ISAS:-$("$B" --version | sed -n 's/^kernel paths: \([a-z0-9 ]*\).*/\1/p')}
P=(--prompt "The opposite of love is" --object hate
   --prompt "The capital of Canada is the city of" --object Ottawa
   --prompt "Héllo wörld — naïve café 🙂 日本" --object x
   --prompt "A farmer typically works at a" --object farm)
echo "INFO kernel paths on this CPU: $ISAS"
[ -n "$ISAS" ] || echo "FAIL isa_paths/list: moeprobe --version names no kernel path"
for m in mixtral olmoe; do
  if ! "$B" trace --model "$S/fixtures/models/$m" "${P[@]}" --out "$T/$m-ref.h5" >/dev/null 2>"$T/err"; then
    echo "FAIL isa_paths/$m/reference: $(tail -3 "$T/err")"; continue
  fi
  for isa in $ISAS; do
    for n in 1 2 3 4; do
      name=isa_paths/$m/$isa/np$n
      if ! MOEPROBE_ISA=$isa $MPI -x MOEPROBE_ISA -np $n "$B" trace --model "$S/fixtures/models/$m" \
           "${P[@]}" --placement $([ $n = 3 ] && echo round_robin || echo contiguous) \
           --out "$T/$m-$isa-$n.h5" >/dev/null 2>"$T/err"; then
        echo "FAIL $name: mpirun failed: $(tail -3 "$T/err")"; continue
      fi
      out=$("$CMP" "$T/$m-$isa-$n.h5" "$T/$m-ref.h5" --bits)
      [ $? -eq 0 ] && echo "PASS $name" || echo "FAIL $name: $(echo "$out" | head -3)"
    done
  done
done
# the comparison can fail: one float of a dataset changed by one ulp is a difference
/usr/bin/python3 - "$T/mixtral-ref.h5" "$T/ulp.h5" <<'PY' 2>"$T/py.err"
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    ds = []
    f.visititems(lambda n, o: ds.append(n) if isinstance(o, h5py.Dataset) and o.dtype == np.float32 and o.size else None)
    d = f[ds[0]]; a = d[...]; flat = a.reshape(-1)
    flat[0] = np.nextafter(flat[0], np.float32(np.inf)); d[...] = a
PY
out=$("$CMP" "$T/ulp.h5" "$T/mixtral-ref.h5" --bits); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "differ in their bits" && echo "PASS isa_paths/h5cmp_bits_sees_one_ulp" \
  || echo "FAIL isa_paths/h5cmp_bits_sees_one_ulp: rc $rc: $(echo "$out" | head -2) $(tail -2 "$T/py.err")"
# bad values of MOEPROBE_ISA
out=$(MOEPROBE_ISA=sse9 "$B" trace --model "$S/fixtures/models/mixtral" "${P[@]:0:4}" --out "$T/bad.h5" 2>&1); rc=$?
case "$rc:$out" in 0:*) echo "FAIL isa_paths/unknown_isa_refused: exit 0";;
  *"MOEPROBE_ISA=sse9"*"expected avx512, avx2, neon, generic or auto"*) echo "PASS isa_paths/unknown_isa_refused";;
  *) echo "FAIL isa_paths/unknown_isa_refused: $out";; esac
[ -e "$T/bad.h5" ] && echo "FAIL isa_paths/unknown_isa_writes_nothing: $T/bad.h5 exists" || echo "PASS isa_paths/unknown_isa_writes_nothing"
other=neon; [ "$(uname -m)" = aarch64 ] && other=avx2
out=$(MOEPROBE_ISA=$other "$B" trace --model "$S/fixtures/models/mixtral" "${P[@]:0:4}" --out "$T/bad2.h5" 2>&1); rc=$?
case "$rc:$out" in 0:*) echo "FAIL isa_paths/foreign_isa_refused: exit 0";;
  *"MOEPROBE_ISA=$other: this CPU or build cannot run"*"this CPU runs: "*) echo "PASS isa_paths/foreign_isa_refused";;
  *) echo "FAIL isa_paths/foreign_isa_refused: $out";; esac
