#!/usr/bin/env bash
# moeprobe on aarch64 for real, under qemu-user: cross-built with Debian's gcc-aarch64-linux-gnu
# against Debian's own arm64 HDF5, Open MPI, OpenBLAS, libyaml, jansson, PCRE2 and utf8proc
# (the sysroot of scripts/arm64-sysroot.sh, built by scripts/install-deps.sh; the build is
# scripts/cross-arm64.sh) and run with qemu-aarch64 -L SYSROOT:
#   - unit/test_kern: the NEON and portable paths sum every output in kern.h's documented order;
#   - the golden forward test on an MoE model (olmoe) and a dense sliding-window one (mistral):
#     all 26 prompts' tensors, the attributions of the first prompts (qemu makes them slow);
#     its error figures must equal the x86 build's, digit for digit;
#   - the tokenizer golden test, all of it, with the same checks as the x86 build's;
#   - trace smoke runs: olmoe and mistral as a singleton (no mpirun), and olmoe under mpirun
#     -np 2 and -np 3, each archive bit-identical (h5cmp --bits) to the x86 build's trace.
# mpirun is the host's (x86-64) Open MPI launching the aarch64 ranks under qemu: both are Debian's
# Open MPI 4.1.4, so the ranks speak PMIx to the host's daemon. An aarch64 mpirun cannot start
# aarch64 ranks itself without binfmt_misc (the kernel cannot exec them), and Open MPI's
# single-copy shared-memory transfers (process_vm_readv) are not implemented by qemu-user, so
# they are switched off. The singleton runs with ess_singleton_isolated: otherwise it would
# exec the host's x86-64 orted.
# Correctness only: qemu emulates every floating-point instruction in software, so its timings
# say nothing about Arm speed. Missing tools or sysroot are a failure, not a skip.
set -u
# An x86 path forced for the whole suite (MOEPROBE_ISA=avx2 emulates a node without AVX-512)
# means nothing to the aarch64 build, which would refuse it: here each build takes its own
# best path (the x86 references as well, so they stay the default path's archives).
unset MOEPROBE_ISA
R=$MOEPROBE_ROOT; B=$MOEPROBE_BIN; S=$MOEPROBE_SHARED; T=$MOEPROBE_TEST_TMP/arm_qemu
mkdir -p "$T"
X=$(dirname "$B")        # the x86 build: reference runs and h5cmp
A=$R/bin-arm64           # the aarch64 build
echo "INFO arm_qemu: correctness only (qemu-user emulates aarch64; its times say nothing about Arm speed)"
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static)
if ! command -v aarch64-linux-gnu-gcc >/dev/null || [ -z "$QEMU" ] || ! command -v file >/dev/null; then
  echo "FAIL arm_qemu/tools: need aarch64-linux-gnu-gcc, qemu-aarch64 and file (scripts/install-deps.sh installs gcc-aarch64-linux-gnu, qemu-user, file)"
  exit 0
fi
if ! SR=$("$R/scripts/arm64-sysroot.sh" --check 2>"$T/sr.err"); then
  echo "FAIL arm_qemu/sysroot: $(cat "$T/sr.err")"; exit 0
fi
t0=$(date +%s.%N)
if "$R/scripts/cross-arm64.sh" >"$T/build.log" 2>&1; then
  echo "PASS arm_qemu/cross_build"
else
  echo "FAIL arm_qemu/cross_build: $(grep -m5 -E 'error|Error' "$T/build.log")"; exit 0
fi
echo "INFO arm_qemu: cross build $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
for b in moeprobe tests/test_kern tests/test_forward_golden tests/test_tokenizer; do
  file -L "$A/$b" 2>/dev/null | grep -q 'ARM aarch64' && echo "PASS arm_qemu/binary_is_aarch64/$(basename "$b")" \
    || echo "FAIL arm_qemu/binary_is_aarch64/$(basename "$b"): $(file -L "$A/$b" 2>&1)"
done
# a hang (an emulated MPI start that never connects, say) fails the test instead of stalling
# make test; the slowest run took up to ~100 s of wall time on a 2-core machine at load 15
q() { timeout 900 "$QEMU" -L "$SR" "$@"; }
v=$(q "$A/moeprobe" --version 2>&1)
[[ "$v" == *"in use: neon"* ]] && echo "PASS arm_qemu/moeprobe_runs_neon" \
  || echo "FAIL arm_qemu/moeprobe_runs_neon: --version says: $v"

# The golden tests in the background, test_kern and the traces meanwhile: two cores, and the
# halves take about the same CPU time.
GOLD=(olmoe:1 mistral:4)  # model:prompts whose attributions are checked
(
  g0=$(date +%s.%N)
  for mp in "${GOLD[@]}"; do
    m=${mp%%:*}
    MOEPROBE_GOLDEN_ATTR_PROMPTS=${mp#*:} q "$A/tests/test_forward_golden" "$m" >"$T/golden_$m.out" 2>&1
    echo $? >"$T/golden_$m.rc"
  done
  q "$A/tests/test_tokenizer" >"$T/tok.out" 2>&1
  echo $? >"$T/tok.rc"
  awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $g0}" >"$T/golden.seconds"
) &
gold_pid=$!

r0=$(date +%s.%N)
q "$A/tests/test_kern" >"$T/kern.out" 2>&1; rc=$?
pass=$(grep -c '^PASS ' "$T/kern.out"); fail=$(grep -c '^FAIL ' "$T/kern.out")
paths=$(sed -n 's/^INFO kernel paths run on this CPU: //p' "$T/kern.out")
echo "INFO arm_qemu: test_kern under qemu-aarch64: $pass checks passed, $fail failed, paths: $paths"
grep '^FAIL ' "$T/kern.out" | head -5 | sed 's/^FAIL /FAIL arm_qemu\//'
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$pass" -gt 1000 ] && echo "PASS arm_qemu/test_kern_neon" \
  || echo "FAIL arm_qemu/test_kern_neon: exit $rc, $pass passed, $fail failed"
[ "$paths" = "neon generic" ] && echo "PASS arm_qemu/neon_path_selected" \
  || echo "FAIL arm_qemu/neon_path_selected: paths '$paths' (expected 'neon generic')"

# trace smoke: singleton runs and mpirun -np 2 / 3, each bit for bit the x86 build's archive
P=(--prompt "The capital of Canada is the city of" --object Ottawa
   --prompt "Héllo wörld — naïve café 🙂 日本" --object x)
trace_cmp() {  # name, archive, reference
  local out
  out=$("$X/tools/h5cmp" "$2" "$3" --bits 2>&1)
  if [ $? -eq 0 ]; then echo "PASS arm_qemu/$1_bits_equal_x86"; else echo "FAIL arm_qemu/$1_bits_equal_x86: $(echo "$out" | head -3)"; fi
  echo "INFO arm_qemu: $1 vs x86: ${out##*h5cmp: }"
}
for m in olmoe mistral; do
  if ! "$B" trace --model "$S/fixtures/models/$m" "${P[@]}" --out "$T/x86_$m.h5" >/dev/null 2>"$T/err"; then
    echo "FAIL arm_qemu/trace_$m/x86_reference: $(tail -3 "$T/err")"; continue
  fi
  if OMPI_MCA_ess_singleton_isolated=1 q "$A/moeprobe" trace --model "$S/fixtures/models/$m" "${P[@]}" \
       --out "$T/arm_$m.h5" >/dev/null 2>"$T/err"; then
    echo "PASS arm_qemu/trace_$m/singleton"
    trace_cmp "trace_$m/singleton" "$T/arm_$m.h5" "$T/x86_$m.h5"
  else
    echo "FAIL arm_qemu/trace_$m/singleton: $(tail -3 "$T/err")"
  fi
done
for np in 2 3; do  # 3 ranks: olmoe's 16 experts in uneven shares, placed round robin
  if timeout 900 mpirun --oversubscribe --allow-run-as-root --mca btl_vader_single_copy_mechanism none -np $np \
       "$QEMU" -L "$SR" "$A/moeprobe" trace --model "$S/fixtures/models/olmoe" "${P[@]}" \
       --placement $([ $np = 3 ] && echo round_robin || echo contiguous) \
       --out "$T/arm_olmoe_np$np.h5" >"$T/np$np.out" 2>&1; then
    echo "PASS arm_qemu/trace_olmoe/np$np"
    ranks=$(h5dump -a /mpi_ranks "$T/arm_olmoe_np$np.h5" 2>/dev/null | sed -n 's/.*(0): *\([0-9]*\).*/\1/p')
    [ "$ranks" = $np ] && echo "PASS arm_qemu/trace_olmoe/np${np}_ranks_in_archive" \
      || echo "FAIL arm_qemu/trace_olmoe/np${np}_ranks_in_archive: the archive's mpi_ranks is '$ranks'"
    trace_cmp "trace_olmoe/np$np" "$T/arm_olmoe_np$np.h5" "$T/x86_olmoe.h5"
  else
    echo "FAIL arm_qemu/trace_olmoe/np$np: $(tail -3 "$T/np$np.out")"
  fi
done

# the golden forward test: passes, and its error figures (WORST) are the x86 build's exactly
echo "INFO arm_qemu: test_kern and traces $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $r0}") s"
wait "$gold_pid"
echo "INFO arm_qemu: golden forward and tokenizer tests (beside them) $(cat "$T/golden.seconds" 2>/dev/null) s"

# tokenizer golden: every check passes, and the same checks as on x86
rc=$(cat "$T/tok.rc" 2>/dev/null || echo missing)
"$X/tests/test_tokenizer" >"$T/tok_x86.out" 2>&1
pass=$(grep -c '^PASS ' "$T/tok.out"); fail=$(grep -c '^FAIL ' "$T/tok.out")
grep '^FAIL ' "$T/tok.out" | head -5 | sed 's/^FAIL /FAIL arm_qemu\//'
[ "$rc" = 0 ] && [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ] && echo "PASS arm_qemu/tokenizer_golden" \
  || echo "FAIL arm_qemu/tokenizer_golden: exit $rc, $pass passed, $fail failed"
if diff <(grep -E '^(PASS|FAIL) ' "$T/tok_x86.out") <(grep -E '^(PASS|FAIL) ' "$T/tok.out") >"$T/tok.diff"; then
  echo "PASS arm_qemu/tokenizer_same_as_x86"
else
  echo "FAIL arm_qemu/tokenizer_same_as_x86: $(head -4 "$T/tok.diff" | tr '\n' ' ')"
fi
echo "INFO arm_qemu: tokenizer golden under qemu: $pass checks passed"

for mp in "${GOLD[@]}"; do
  m=${mp%%:*}
  rc=$(cat "$T/golden_$m.rc" 2>/dev/null || echo missing)
  pass=$(grep -c '^PASS ' "$T/golden_$m.out"); fail=$(grep -c '^FAIL ' "$T/golden_$m.out")
  grep '^FAIL ' "$T/golden_$m.out" | head -5 | sed 's/^FAIL /FAIL arm_qemu\//'
  [ "$rc" = 0 ] && [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ] && echo "PASS arm_qemu/forward_golden_$m" \
    || echo "FAIL arm_qemu/forward_golden_$m: exit $rc, $pass passed, $fail failed"
  MOEPROBE_GOLDEN_ATTR_PROMPTS=${mp#*:} "$X/tests/test_forward_golden" "$m" >"$T/golden_${m}_x86.out" 2>&1
  wa=$(grep '^WORST ' "$T/golden_$m.out"); wx=$(grep '^WORST ' "$T/golden_${m}_x86.out")
  [ -n "$wa" ] && [ "$wa" = "$wx" ] && echo "PASS arm_qemu/forward_golden_${m}_errors_equal_x86" \
    || echo "FAIL arm_qemu/forward_golden_${m}_errors_equal_x86: aarch64 '$wa' x86 '$wx'"
  grep -h '^INFO forward' "$T/golden_$m.out" | sed 's/^INFO /INFO arm_qemu: /'
  echo "INFO arm_qemu: aarch64 $wa"
done
echo "INFO arm_qemu: total $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s (cross build included)"
