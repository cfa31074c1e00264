#!/usr/bin/env bash
# moeprobe run with stages [capture, evaluate, attribute, heads_experts] on the three MoE
# fixture models, all 12 relations: analyses/<rel>/head_expert (correlation matrix, strongest,
# pair, suppression, forcing, path) against the fixtures' refs-analyses/<model>.json with
# the README's tolerances (he_cmp), and the multiple-testing fields (q, permutation null,
# survivors) against the stored matrix and null; the issue's example pair (olmoe
# country_capital_city) is flagged, a strong one survives. Then: he_cmp rejects a ref altered by 1e-5 in one mrr; the
# same run under mpirun -np 2 (mixtral, expert parallel) matches the refs and the one-process
# archive; the temporal option against its recomputation from all-position captures; a run
# without attribute fails naming what is missing; a dense model plans no heads_experts units.
# Archives are rebuilt once at the end (snapshot_every_s), not after every unit: the same file
# (the per-unit rebuild is kill_resume's, preempt's and damaged_parts' subject). The three models
# and the temporal run go side by side, one thread each (tests/cli/lib/par_run.bash).
set -u
source "$MOEPROBE_ROOT/tests/cli/lib/tool_check.bash"
B=$MOEPROBE_BIN; S=$MOEPROBE_SHARED; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/stage_heads_experts
TOOLS=$(dirname "$B")/tools
rm -rf "$T"; mkdir -p "$T"
MPI="mpirun --oversubscribe --allow-run-as-root"
conf() { # model out [extra yaml]
  cat > "$T/$2.yaml" <<YAML
model: $R/models/tiny-$1
relations: $R/data/lre
out: $T/$2
stages: [capture, evaluate, attribute, heads_experts]
capture:
  points: [router_logits]
attribute:
  neurons_top: [1]
snapshot_every_s: 1e9
${3:-}
YAML
}
source "$R/tests/cli/lib/par_run.bash"
for m in qwen2moe mixtral olmoe; do  # the costliest first
  conf $m out-$m
  par_run "$m" "$T/out-$m.yaml"
done
# temporal correlation (checked below against the all-position captures of the same run)
cat > "$T/temporal.yaml" <<YAML
model: $R/models/tiny-qwen2moe
relations: [$R/data/lre/country_capital_city.json, $R/data/lre/word_first_letter.json]
out: $T/temporal
stages: [capture, evaluate, attribute, heads_experts]
capture:
  points: [head_out, router_logits]
  positions: all
attribute:
  neurons_top: [1]
heads_experts:
  correlation: temporal
snapshot_every_s: 1e9
YAML
par_run temporal "$T/temporal.yaml"
par_wait
for m in olmoe qwen2moe mixtral; do
  if ! par_ok "$m"; then
    echo "FAIL stage_heads_experts/$m: moeprobe run failed: $(tail -3 "$T/$m.err")"; continue
  fi
  last=$(tail -1 "$T/$m.out")
  [ "$last" = "$T/out-$m/tiny-$m.h5" ] && echo "PASS stage_heads_experts/$m/prints_archive_path" \
    || echo "FAIL stage_heads_experts/$m/prints_archive_path: last stdout line '$last'"
  tool_check "stage_heads_experts/$m" "$TOOLS/he_cmp" "$T/out-$m/tiny-$m.h5" "$S/fixtures/refs-analyses/$m.json" "stage_heads_experts/$m"
done

# multiple testing on tiny-olmoe (he_cmp checked the fields above): country_capital_city's
# largest |r| (0.665 over n = 24 and 640 pairs) does not beat the permutation null, so its pair
# is flagged; fruit_inside_color's (0.859, n = 36) does
attr() { h5dump -a "$2" "$1" 2>/dev/null | sed -n 's/^ *(0): //p'; }
A=$T/out-olmoe/tiny-olmoe.h5
s1=$(attr "$A" /analyses/country_capital_city/head_expert/pair/survives)
s2=$(attr "$A" /analyses/fruit_inside_color/head_expert/pair/survives)
p1=$(attr "$A" /analyses/country_capital_city/head_expert/null/p_max)
[ "$s1" = 0 ] && [ "$s2" = 1 ] && awk -v p="$p1" 'BEGIN{exit !(p > 0.05)}' \
  && echo "PASS stage_heads_experts/olmoe_pair_flagged_by_null" \
  || echo "FAIL stage_heads_experts/olmoe_pair_flagged_by_null: survives '$s1' / '$s2' (expected 0 / 1), p_max '$p1'"

# the comparison is not vacuous: mrr_forced of adj_antonym moved by 1e-5 must fail
sed 's/"mrr_forced":0\.668920295/"mrr_forced":0.668930295/' "$S/fixtures/refs-analyses/olmoe.json" > "$T/bad.json"
out=$("$TOOLS/he_cmp" "$T/out-olmoe/tiny-olmoe.h5" "$T/bad.json" neg 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q '^FAIL neg/adj_antonym: forcing.mrr_forced' <<<"$out"; then
  echo "PASS stage_heads_experts/he_cmp_rejects_altered_ref"
else
  echo "FAIL stage_heads_experts/he_cmp_rejects_altered_ref: exit $rc (expected 1): $(echo "$out" | grep adj_antonym)"
fi

# two ranks: expert parallel over mixtral's 8 experts
sed "s|out: .*|out: $T/np2-mixtral|" "$T/out-mixtral.yaml" > "$T/np2.yaml"
if $MPI -np 2 "$B" run "$T/np2.yaml" >/dev/null 2>"$T/np2.err"; then
  tool_check stage_heads_experts/mixtral_np2 "$TOOLS/he_cmp" "$T/np2-mixtral/tiny-mixtral.h5" "$S/fixtures/refs-analyses/mixtral.json" "stage_heads_experts/mixtral_np2" | grep -v '^INFO'
  # the same bits as one rank (pipeline/ops/kern.h): margins and tied neurons included
  out=$("$TOOLS/h5cmp" "$T/np2-mixtral/tiny-mixtral.h5" "$T/out-mixtral/tiny-mixtral.h5" --bits \
        --skip run_config_yaml)
  [ $? -eq 0 ] && echo "PASS stage_heads_experts/mixtral_np2_same_archive" \
    || echo "FAIL stage_heads_experts/mixtral_np2_same_archive: $(echo "$out" | head -3)"
else
  echo "FAIL stage_heads_experts/mixtral_np2: $(tail -3 "$T/np2.err")"
fi

# temporal correlation, checked against the all-position captures of the same run
if par_ok temporal; then
  tool_check stage_heads_experts/temporal "$TOOLS/he_cmp" --temporal "$T/temporal/tiny-qwen2moe.h5" stage_heads_experts/temporal
else
  echo "FAIL stage_heads_experts/temporal: $(tail -3 "$T/temporal.err")"
fi

# without attribute there are no head importances: the plan is refused before any work
cat > "$T/noattr.yaml" <<YAML
model: $R/models/tiny-olmoe
relations: [$R/data/lre/country_capital_city.json]
out: $T/noattr
stages: [capture, evaluate, heads_experts]
YAML
if "$B" run "$T/noattr.yaml" >/dev/null 2>"$T/noattr.err"; then
  echo "FAIL stage_heads_experts/needs_attribute: the run succeeded"
else
  grep -q "stage heads_experts needs stage attribute" "$T/noattr.err" && [ ! -e "$T/noattr" ] \
    && echo "PASS stage_heads_experts/needs_attribute" \
    || echo "FAIL stage_heads_experts/needs_attribute: $(tail -2 "$T/noattr.err")"
fi

# dense models: moe_only, no units planned
cat > "$T/dense.yaml" <<YAML
model: $R/models/tiny-llama
relations: [$R/data/lre/country_capital_city.json]
out: $T/dense
max_samples: 4
stages: [capture, evaluate, attribute, heads_experts]
YAML
msg=$("$B" run "$T/dense.yaml" 2>&1 >/dev/null | head -1)
case "$msg" in *"1 units, 1 to run"*) echo "PASS stage_heads_experts/dense_model_skipped";;
  *) echo "FAIL stage_heads_experts/dense_model_skipped: $msg";; esac
