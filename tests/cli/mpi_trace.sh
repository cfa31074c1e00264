#!/usr/bin/env bash
# moeprobe trace under mpirun -np 1, 2, 3, 4 on every fixture model (4 ranks is more than
# mixtral's 8 experts / 3 leaves ranks with uneven shares; olmoe/qwen2moe have 16): every
# dataset bit-identical to the single-process run (h5cmp --bits: the kernels sum every output in
# one order whatever the batch or rank count, pipeline/ops/kern.h), top-N lists in the same order.
set -u
B=$MOEPROBE_BIN; S=$MOEPROBE_SHARED; T=$MOEPROBE_TEST_TMP/mpi_trace; mkdir -p "$T"
CMP=$(dirname "$B")/tools/h5cmp
P=(--prompt "The opposite of love is" --object hate
   --prompt "The capital of Canada is the city of" --object Ottawa
   --prompt "Héllo wörld — naïve café 🙂 日本" --object x
   --prompt $'  leading spaces\tand tabs\nnewline' --object x
   --prompt "A farmer typically works at a" --object farm)
for m in olmoe qwen2moe mixtral llama qwen2 mistral; do
  if ! "$B" trace --model "$S/fixtures/models/$m" "${P[@]}" --out "$T/$m-1.h5" >/dev/null 2>"$T/err"; then
    echo "FAIL mpi_trace/$m/single: $(cat "$T/err")"; continue
  fi
  for n in 1 2 3 4; do
    if ! mpirun --oversubscribe --allow-run-as-root -np $n "$B" trace --model "$S/fixtures/models/$m" \
         "${P[@]}" --placement $([ $n = 3 ] && echo round_robin || echo contiguous) \
         --out "$T/$m-np$n.h5" >/dev/null 2>"$T/err"; then
      echo "FAIL mpi_trace/$m/np$n: mpirun failed: $(tail -3 "$T/err")"; continue
    fi
    out=$("$CMP" "$T/$m-np$n.h5" "$T/$m-1.h5" --bits)
    if [ $? -eq 0 ]; then echo "PASS mpi_trace/$m/np$n"; else echo "FAIL mpi_trace/$m/np$n: $(echo "$out" | head -5)"; fi
    echo "INFO $m np=$n ${out##*h5cmp: }"
  done
done
