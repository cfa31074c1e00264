#!/usr/bin/env bash
# moeprobe config: --explain lists every key, --check reports every problem with its
# line:column (exit 1) or prints ok, --print gives the effective YAML, usage errors exit 2.
set -u
cd "$MOEPROBE_ROOT"
B=$MOEPROBE_BIN
T="$MOEPROBE_TEST_TMP/config-cli"
mkdir -p "$T"
check() { if [ "$1" = 0 ]; then echo "PASS $2"; else echo "FAIL $2: $3"; fi; }

"$B" config --explain >"$T/explain" 2>&1; rc=$?
missing=""
for k in model models relations out name template max_samples batch_size expert_placement \
         capture.points capture.positions capture.layers stages attribute.neurons_top \
         attribute.neuron_screen summarise.stages.early summarise.stages.mid summarise.stages.late \
         block.top_n block.mode block.rank_by block.topk_ablation block.shared_ablation block.only_rank_ablation \
         heads_experts.correlation heads_experts.strongest heads_experts.top_experts_for_pair \
         heads_experts.suppression_top_experts heads_experts.permutations heads_experts.seed \
         heads_experts.alpha heads_experts.significance neurons.top neurons.top_experts \
         neurons.top_shared_neurons report.format report.plots report.paper_models snapshot_every_s progress_every_s; do
  grep -q "^ *$k  \[" "$T/explain" || missing="$missing $k"
done
check $([ $rc = 0 ] && [ -z "$missing" ] && echo 0 || echo 1) config.explain_every_key "rc=$rc missing:$missing"

out=$("$B" config --check tests/data/run_minimal.yaml 2>&1); rc=$?
check $([ $rc = 0 ] && [ "$out" = ok ] && echo 0 || echo 1) config.check_ok "rc=$rc out=$out"

"$B" config --check tests/data/run_mistakes.yaml >"$T/out" 2>"$T/err"; rc=$?
n=$(grep -c '^tests/data/run_mistakes.yaml:[0-9]*:[0-9]*: ' "$T/err")
check $([ $rc = 1 ] && [ "$n" = 10 ] && grep -q "5:13: 'batch_size' is \"lots\"" "$T/err" && echo 0 || echo 1) \
  config.check_reports_all "rc=$rc, $n problem lines: $(head -3 "$T/err")"

printf 'model: models/tiny-olmoe\nblock:\n\ttop_n: [1]\n' >"$T/tab.yaml"
"$B" config --check "$T/tab.yaml" >/dev/null 2>"$T/err"; rc=$?
check $([ $rc = 1 ] && grep -q "tab.yaml:3:1: YAML syntax error" "$T/err" && echo 0 || echo 1) \
  config.check_syntax_error "rc=$rc $(cat "$T/err")"

"$B" config --print tests/data/run_minimal.yaml >"$T/eff.yaml" 2>&1; rc=$?
out=$("$B" config --check "$T/eff.yaml" 2>&1)
check $([ $rc = 0 ] && [ "$out" = ok ] && grep -q '^  top_n: \[1, 5, 10\]$' "$T/eff.yaml" && echo 0 || echo 1) \
  config.print_effective_valid "rc=$rc $out"

"$B" config --check "$T/none.yaml" >/dev/null 2>"$T/err"; rc=$?
check $([ $rc = 1 ] && grep -q "none.yaml" "$T/err" && echo 0 || echo 1) config.check_missing_file "rc=$rc"
"$B" config --help >/dev/null 2>&1; rc=$?
check $([ $rc = 0 ] && echo 0 || echo 1) config.help "rc=$rc"
"$B" config --bogus >/dev/null 2>&1; rc=$?
check $([ $rc = 2 ] && echo 0 || echo 1) config.usage_error "rc=$rc"
