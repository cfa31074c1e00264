#!/usr/bin/env bash
# moeprobe plan and status, and the shipped configs:
#   - plan of a 2-model x 2-relation sweep: one line per unit with its array group and needs,
#     per-model totals, the array layout (--array), OUT/manifest.json;
#   - plan of configs/paper.yaml with its model paths pointed at the real configs
#     (the fixtures' configs-real: config.json only): 300 units, 73 groups;
#   - configs/paper.yaml as shipped reports its six placeholder paths as FILE:LINE:COLUMN,
#     demo.yaml and every tiny model file are valid, configs/README.md agrees with
#     `moeprobe config --explain`;
#   - status: done / running / failed / pending while a run holds a unit (test hook), a recorded
#     failure, a unit whose process was killed, and all done after the rerun; errors.
set -u
R=$MOEPROBE_ROOT; S=$MOEPROBE_SHARED; T=$MOEPROBE_TEST_TMP/plan_status; rm -rf "$T"; mkdir -p "$T"
cp "$MOEPROBE_BIN" "$T/moeprobe"; B=$T/moeprobe   # a concurrent make may relink bin/
export OMPI_MCA_ess_singleton_isolated=1
# `run` initialises MPI, and Open MPI's MPI_Init leaks (reported under `make test-debug`):
# leak checks stay on for plan and status only
runp() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$B" run "$@"; }
cd "$R"
ok() { echo "PASS plan_status/$1"; }
bad() { echo "FAIL plan_status/$1: $2"; }

# ---- plan ----------------------------------------------------------------------------------
cat > "$T/sweep.yaml" <<Y
models: [configs/models/tiny-olmoe.yaml, configs/models/tiny-llama.yaml]
relations: [adj_antonym, country_language]
out: $T/out
max_samples: 12
Y
"$B" plan "$T/sweep.yaml" > "$T/plan.txt" 2> "$T/plan.err"; rc=$?
units=$(grep -cE '^[0-9]+ ' "$T/plan.txt")
[ $rc = 0 ] && [ "$units" = 20 ] && ok plan_one_line_per_unit || bad plan_one_line_per_unit "rc=$rc, $units unit lines: $(head -3 "$T/plan.err")"
want=("0 tiny-olmoe capture/adj_antonym -"
      "0 tiny-olmoe block/adj_antonym capture/adj_antonym"
      "1 tiny-olmoe heads_experts/country_language capture/country_language"
      "3 tiny-llama neurons/country_language capture/country_language"
      "4 tiny-olmoe summarise/pooled capture/*"
      "4 tiny-llama neurons/cross capture/*")
miss=
for w in "${want[@]}"; do tr -s ' ' < "$T/plan.txt" | grep -qxF "$w" || miss="$miss [$w]"; done
[ -z "$miss" ] && ok plan_groups_and_needs || bad plan_groups_and_needs "missing:$miss"
tr -s ' ' < "$T/plan.txt" | grep -q "^2 tiny-llama block/" && bad plan_dense_has_no_block "tiny-llama got block units" || ok plan_dense_has_no_block
grep -q "^tiny-olmoe: 12 units (10 per relation, 2 per model; MoE), groups 0-1, archive $T/out/tiny-olmoe.h5$" "$T/plan.txt" &&
grep -q "^tiny-llama: 8 units (6 per relation, 2 per model; dense), groups 2-3" "$T/plan.txt" &&
grep -q "^total: 20 units in 5 groups: relation groups 0-3, final group 4" "$T/plan.txt" &&
  ok plan_totals || bad plan_totals "$(grep -E '^(tiny|total)' "$T/plan.txt")"
arr=$("$B" plan "$T/sweep.yaml" --array)
[ "$arr" = "$(printf 'model tiny-olmoe 0 1 2\nmodel tiny-llama 2 3 2\nfinal 4 1')" ] && ok plan_array_layout || bad plan_array_layout "$arr"
m=$T/out/manifest.json
[ -f "$m" ] && grep -q '"format": "moeprobe-manifest 1"' "$m" && [ "$(grep -c '"id":' "$m")" = 20 ] &&
  [ "$(grep -c '"state": "pending"' "$m")" = 20 ] && ok plan_writes_manifest || bad plan_writes_manifest "$(head -c 300 "$m" 2>&1)"
ls "$T/out"/*.h5 >/dev/null 2>&1 && bad plan_runs_nothing "plan created an archive" || ok plan_runs_nothing

# ---- the shipped configs -------------------------------------------------------------------
mkdir -p "$T/real"
for f in configs/models/{olmoe-1b-7b,qwen1.5-moe-a2.7b,mixtral-8x7b,llama-7b,qwen1.5-7b,mistral-7b}.yaml; do
  case $(basename "$f" .yaml) in
    olmoe-1b-7b) c=olmoe-1b-7b-0924;; qwen1.5-moe-a2.7b) c=qwen1.5-moe-a2.7b;; mixtral-8x7b) c=mixtral-8x7b-v0.1;;
    llama-7b) c=llama-7b;; qwen1.5-7b) c=qwen1.5-7b;; mistral-7b) c=mistral-7b-v0.1;;
  esac
  sed "s|^path: .*|path: $S/configs-real/$c|" "$f" > "$T/real/$(basename "$f")"
done
sed -e "s|configs/models/|$T/real/|" -e "s|^out: [^ ]*|out: $T/paper|" configs/paper.yaml > "$T/paper.yaml"
"$B" plan "$T/paper.yaml" --no-manifest > "$T/paper.txt" 2> "$T/paper.err"; rc=$?
[ $rc = 0 ] && grep -q "^total: 300 units in 73 groups: relation groups 0-71, final group 72 (per-model units and the report)" "$T/paper.txt" &&
  grep -q "^olmoe-1b-7b: 62 units .*MoE" "$T/paper.txt" && grep -q "^mistral-7b: 38 units .*dense" "$T/paper.txt" &&
  ok paper_config_plans || bad paper_config_plans "rc=$rc $(tail -3 "$T/paper.txt") $(head -3 "$T/paper.err")"
"$B" config --check configs/paper.yaml > /dev/null 2> "$T/check.err"; rc=$?
n=$(grep -cE "^configs/models/[a-z0-9.-]+\.yaml:[0-9]+:[0-9]+: 'path': folder \"/path/to/checkpoints/" "$T/check.err")
[ $rc = 1 ] && [ "$n" = 6 ] && ok paper_placeholders_reported || bad paper_placeholders_reported "rc=$rc, $n lines: $(head -2 "$T/check.err")"
bad_cfg=
for f in configs/demo.yaml; do [ "$("$B" config --check "$f" 2>&1)" = ok ] || bad_cfg="$bad_cfg $f"; done
for f in configs/models/tiny-*.yaml; do
  printf 'model: %s\nrelations: data/lre\nout: %s/x\n' "$f" "$T" > "$T/one.yaml"
  [ "$("$B" config --check "$T/one.yaml" 2>&1)" = ok ] || bad_cfg="$bad_cfg $f"
done
[ -z "$bad_cfg" ] && ok demo_and_tiny_configs_valid || bad demo_and_tiny_configs_valid "$bad_cfg"
"$B" config --explain > "$T/explain.txt"
sed -n '/^<!-- BEGIN moeprobe config --explain -->$/,/^<!-- END moeprobe config --explain -->$/p' configs/README.md |
  sed '1,2d;$d' | sed '$d' > "$T/readme-explain.txt"
diff -q "$T/explain.txt" "$T/readme-explain.txt" >/dev/null && ok configs_readme_matches_explain ||
  bad configs_readme_matches_explain "configs/README.md is out of date: run scripts/gen-configs-readme.sh ($(diff "$T/explain.txt" "$T/readme-explain.txt" | head -3 | tr '\n' ' '))"

# ---- status --------------------------------------------------------------------------------
cat > "$T/one.yaml" <<Y
model: configs/models/tiny-olmoe.yaml
relations: [adj_antonym, country_language]
out: $T/st
stages: [capture, evaluate, attribute, summarise, block]
max_samples: 12
Y
# plan order: capture x2, summarise x2, summarise/pooled, block x2; summarise/adj_antonym fails,
# block/country_language is held until $T/go exists
MOEPROBE_TEST_FAIL_UNIT=summarise/adj_antonym MOEPROBE_TEST_HOLD_UNIT=block/country_language:$T/go \
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$B" run "$T/one.yaml" > /dev/null 2> "$T/run1.err" &
pid=$!
for _ in $(seq 600); do "$B" status "$T/st" 2>/dev/null | grep -q "block/country_language: pid" && break; sleep 0.1; done
"$B" status "$T/st" > "$T/st1.txt" 2>&1
tr -s ' ' < "$T/st1.txt" | grep -q "^tiny-olmoe 5 1 1 0 7$" &&
  grep -q "^  tiny-olmoe block/country_language: pid $pid on " "$T/st1.txt" &&
  grep -q "^  tiny-olmoe summarise/adj_antonym: injected failure" "$T/st1.txt" &&
  ok status_done_running_failed_pending || bad status_done_running_failed_pending "$(cat "$T/st1.txt")"
"$B" status "$T/st" --units > "$T/st1u.txt"
grep -q "^running  tiny-olmoe block/country_language: pid $pid" "$T/st1u.txt" && grep -q "^done     tiny-olmoe capture/adj_antonym$" "$T/st1u.txt" &&
  ok status_units_list || bad status_units_list "$(cat "$T/st1u.txt")"
kill -9 $pid; wait $pid 2>/dev/null
"$B" status "$T/st" > "$T/st2.txt" 2>&1
tr -s ' ' < "$T/st2.txt" | grep -q "^tiny-olmoe 5 0 2 0 7$" &&
  grep -q "block/country_language: process $pid on .* is gone (killed or crashed)" "$T/st2.txt" &&
  ok status_killed_process_is_failed || bad status_killed_process_is_failed "$(cat "$T/st2.txt")"
# the first run ended with status 1 for its failed unit? (it was killed: check the failure line)
grep -q "FAILED summarise/adj_antonym" "$T/run1.err" && ok run_reports_failed_unit || bad run_reports_failed_unit "$(tail -3 "$T/run1.err")"
runp "$T/one.yaml" > /dev/null 2> "$T/run2.err"; rc=$?
"$B" status "$T/st" > "$T/st3.txt" 2>&1
[ $rc = 0 ] && tr -s ' ' < "$T/st3.txt" | grep -q "^tiny-olmoe 7 0 0 0 7$" &&
  grep -q "7 units, 2 to run" "$T/run2.err" && ok status_all_done_after_rerun ||
  bad status_all_done_after_rerun "rc=$rc $(cat "$T/st3.txt") $(head -2 "$T/run2.err")"
# a failed unit: the others still run, exit 1, and a new plan keeps the recorded failure
sed -e "s|out: .*|out: $T/st4|" -e "s|stages: .*|stages: [capture, evaluate]|" "$T/one.yaml" > "$T/four.yaml"
MOEPROBE_TEST_FAIL_UNIT=capture/adj_antonym runp "$T/four.yaml" >/dev/null 2>"$T/run4.err"; rc=$?
"$B" status "$T/st4" > "$T/st4.txt" 2>&1
[ $rc = 1 ] && grep -q "FAILED capture/adj_antonym" "$T/run4.err" && tr -s ' ' < "$T/st4.txt" | grep -q "^tiny-olmoe 1 0 1 0 2$" &&
  ok run_exit_1_on_failed_unit || bad run_exit_1_on_failed_unit "rc=$rc $(tail -2 "$T/run4.err") $(cat "$T/st4.txt")"
"$B" plan "$T/four.yaml" > /dev/null
grep -q '"error": "injected failure' "$T/st4/manifest.json" && ok plan_keeps_recorded_state || bad plan_keeps_recorded_state "manifest lost the failure"

# ---- errors --------------------------------------------------------------------------------
out=$("$B" status "$T/nowhere" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "no manifest" && ok status_no_manifest || bad status_no_manifest "rc=$rc $out"
printf 'model: models/tiny-olmoe\nrelations: data/lre\nout: %s/e\nstagez: [capture]\n' "$T" > "$T/typo.yaml"
out=$("$B" plan "$T/typo.yaml" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "typo.yaml:4:1: " && [ ! -e "$T/e" ] && ok plan_bad_config || bad plan_bad_config "rc=$rc $out"
runp "$T/one.yaml" --stage nosuch > /dev/null 2>&1; rc=$?
runp "$T/one.yaml" --array-index 99 > /dev/null 2> "$T/ai.err"; rc2=$?
[ $rc = 2 ] && [ $rc2 = 2 ] && grep -q "beyond the plan's 3 groups" "$T/ai.err" && ok run_option_errors || bad run_option_errors "rc=$rc rc2=$rc2 $(cat "$T/ai.err")"
