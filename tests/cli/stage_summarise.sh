#!/usr/bin/env bash
# Stages summarise and neurons over all 12 LRE relations of the six fixture models:
#   - every field of relations.<rel>.summary and pooled equals
#     fixtures/refs-analyses/<model>.json (summary_cmp: gains, shares, curves 1e-5; peak layer
#     2e-9; n and stage bounds exact);
#   - the neuron analyses equal an independent recomputation from the archive's top-N lists
#     (neurons_check), with their invariants (shares, dense / no-shared-expert models);
#   - under mpirun -np 2 the same capture units give exactly the same analyses;
#   - without stage attribute, or with neurons.top not among attribute.neurons_top, the run
#     fails with a message naming the missing piece.
# The archive is rebuilt once at the end (snapshot_every_s), not after each of the 38 units: the
# rebuilds re-hash and copy every part each time, over half of the test's CPU, and the final
# archive is the same (the per-unit rebuild is what kill_resume, preempt and damaged_parts test).
# The six models run side by side, one thread each (tests/cli/lib/par_run.bash).
set -u
source "$MOEPROBE_ROOT/tests/cli/lib/tool_check.bash"
B=$MOEPROBE_BIN; S=$MOEPROBE_SHARED; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/stage_summarise; mkdir -p "$T"
TOOLS=$(dirname "$B")/tools
source "$R/tests/cli/lib/par_run.bash"
for m in qwen2moe mixtral olmoe llama qwen2 mistral; do  # the costliest first
  cat > "$T/$m.yaml" <<YAML
model: $R/models/tiny-$m
relations: $R/data/lre
out: $T/out-$m
stages: [capture, evaluate, attribute, summarise, neurons]
snapshot_every_s: 1e9
YAML
  par_run "$m" "$T/$m.yaml"
done
par_wait
for m in olmoe qwen2moe mixtral llama qwen2 mistral; do
  if ! par_ok "$m"; then
    echo "FAIL stage_summarise/$m: moeprobe run failed: $(tail -3 "$T/$m.err")"; continue
  fi
  tool_check "summarise/$m" "$TOOLS/summary_cmp" "$T/out-$m/tiny-$m.h5" "$S/fixtures/refs-analyses/$m.json" "summarise/$m"
  tool_check "neurons/$m" "$TOOLS/neurons_check" "$T/out-$m/tiny-$m.h5" "neurons/$m"
done

# MPI: the archive-only stages run on rank 0, so under mpirun -np 2 the same capture units
# (copied from the run above) must give exactly the same analyses (qwen2moe: shared expert).
# The capture units themselves are compared under MPI by run_capture.sh.
m=qwen2moe
P=tiny-$m.h5.parts
mkdir -p "$T/np2-$m/$P" && cp "$T/out-$m/$P"/capture*.h5 "$T/np2-$m/$P/"
sed "s|out: .*|out: $T/np2-$m|" "$T/$m.yaml" > "$T/$m-np2.yaml"
if ! mpirun --oversubscribe --allow-run-as-root -np 2 "$B" run "$T/$m-np2.yaml" >/dev/null 2>"$T/np2.err"; then
  echo "FAIL stage_summarise/$m/np2: $(tail -3 "$T/np2.err")"
else
  ran=$(grep -c ': done \(summarise\|neurons\)/' "$T/np2.err")
  [ "$ran" -eq 26 ] && echo "PASS stage_summarise/$m/np2_ran_26_analysis_units" \
    || echo "FAIL stage_summarise/$m/np2_ran_26_analysis_units: $ran units ran"
  out=$("$TOOLS/h5cmp" "$T/np2-$m/tiny-$m.h5" "$T/out-$m/tiny-$m.h5" --rtol 0 --skip run_config_yaml --skip mpi_ranks)
  [ $? -eq 0 ] && echo "PASS stage_summarise/$m/np2_same_archive" || echo "FAIL stage_summarise/$m/np2_same_archive: $(echo "$out" | head -3)"
  echo "INFO np2 $m: ${out##*h5cmp: }"
fi

# refusals: no attribute stage; neurons.top not computed by the capture pass
cat > "$T/noattr.yaml" <<YAML
model: $R/models/tiny-olmoe
relations: $R/data/lre
out: $T/noattr
max_samples: 2
stages: [capture, evaluate, summarise]
YAML
if "$B" run "$T/noattr.yaml" >/dev/null 2>"$T/noattr.err"; then
  echo "FAIL stage_summarise/no_attribute_refused: the run succeeded"
elif grep -q "needs stage attribute" "$T/noattr.err"; then
  echo "PASS stage_summarise/no_attribute_refused"
else
  echo "FAIL stage_summarise/no_attribute_refused: message '$(grep -m1 summarise "$T/noattr.err")'"
fi
cat > "$T/badtop.yaml" <<YAML
model: $R/models/tiny-olmoe
relations: $R/data/lre
out: $T/badtop
max_samples: 2
stages: [capture, evaluate, attribute, neurons]
attribute: {neurons_top: [100]}
neurons: {top: [100, 300]}
YAML
if "$B" run "$T/badtop.yaml" >/dev/null 2>"$T/badtop.err"; then
  echo "FAIL stage_summarise/neurons_top_not_computed: the run succeeded"
elif grep -q "neurons.top has 300, which is not among attribute.neurons_top \[100\]" "$T/badtop.err"; then
  echo "PASS stage_summarise/neurons_top_not_computed"
else
  echo "FAIL stage_summarise/neurons_top_not_computed: message '$(grep -m1 neurons "$T/badtop.err")'"
fi
