#!/usr/bin/env bash
# Config drift never mixes results (issue 13 point 3). A finished run, then the setup changes:
# a relation's prompt template, max_samples, a summarise key, eval_precision (a run key only block
# reads), the model's config.json. Each
# time the rerun refuses by default (exit 1, nothing run, every changed unit listed with what
# changed), and `--on-change recompute` recomputes exactly the units whose inputs changed (old
# parts kept as *.stale; 1 and 2 ranks) and ends with an archive equal to a fresh run of the new
# setup. Keys that do not change results (batch_size, snapshot cadence) change nothing.
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/config_drift; rm -rf "$T"; mkdir -p "$T"
B=$MOEPROBE_BIN; TOOLS=$(dirname "$MOEPROBE_BIN")/tools
export OMPI_MCA_ess_singleton_isolated=1
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
cd "$R"
ok() { echo "PASS config_drift/$1"; }
bad() { echo "FAIL config_drift/$1: $2"; }
MPIRUN="mpirun --oversubscribe --allow-run-as-root"
CMP_OPTS=(--bits --skip run_config_yaml --skip command_line)

mkcfg() {  # FILE OUT LRE MAX_SAMPLES [MODEL] [EXTRA YAML]
  cat > "$1" <<Y
model: ${5:-models/tiny-qwen2moe}
relations: [adj_antonym, country_language]
relations_dir: $3
out: $2
stages: [capture, evaluate, attribute, summarise]
max_samples: $4
${6:-}
Y
}
retemplate() {  # LRE_DIR: change adj_antonym's first zero-shot template
  /usr/bin/python3 - "$1/adj_antonym.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["prompt_templates_zs"][0] = "The opposite of {} is the word"
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
}
unit_starts() { grep -o 'start [a-z_]*/[a-z_]*' "$1" | sed 's/start //' | sort | tr '\n' ' '; }

# one relations folder (its path is recorded in the archive); the template changes in place last
mkdir -p "$T/lre_old"
cp data/lre/adj_antonym.json data/lre/country_language.json "$T/lre_old/"
mkcfg "$T/base.yaml" "$T/base" "$T/lre_old" 6
"$B" run "$T/base.yaml" > /dev/null 2> "$T/base.err" || { bad baseline "$(tail -3 "$T/base.err")"; exit 0; }

# case NAME CFG_OF_CHANGE FRESH_CFG EXPECTED_LIST(ids run on recompute) EXPECTED_TEXT [LAUNCH]
drift_case() {
  local name=$1 cfg=$2 fresh=$3 want=$4 text=$5 launch=${6:-}
  local out; out=$(sed -n 's/^out: //p' "$cfg")
  rm -rf "$out"; cp -r "$T/base" "$out"; sed -i "s|$T/base\b|$out|g" "$out/manifest.json"
  local before; before=$(cd "$out/tiny-qwen2moe.h5.parts" && sha256sum ./*.h5 | sort)
  $launch "$B" run "$cfg" > /dev/null 2> "$T/$name.refuse"; local rc=$?
  local listed; listed=$(grep -o ': [a-z_]*/[a-z_]* was computed under another setup' "$T/$name.refuse" | sed 's/^: //; s/ was.*//' | sort | tr '\n' ' ')
  local after; after=$(cd "$out/tiny-qwen2moe.h5.parts" && sha256sum ./*.h5 | sort)
  [ $rc = 1 ] && [ "$listed" = "$want" ] && grep -q -- "$text" "$T/$name.refuse" &&
    grep -q "nothing was run. Rerun with --on-change recompute" "$T/$name.refuse" &&
    ! grep -q "start " "$T/$name.refuse" && [ "$before" = "$after" ] &&
    ok "$name/refused_by_default_with_list" ||
    bad "$name/refused_by_default_with_list" "rc=$rc listed='$listed' want='$want' $(head -3 "$T/$name.refuse")"
  $launch "$B" run "$cfg" --on-change recompute > /dev/null 2> "$T/$name.recompute"; rc=$?
  local ran; ran=$(unit_starts "$T/$name.recompute")
  [ $rc = 0 ] && [ "$ran" = "$want" ] && ls "$out"/tiny-qwen2moe.h5.parts/*.stale > /dev/null 2>&1 &&
    ok "$name/recompute_runs_only_changed_units" ||
    bad "$name/recompute_runs_only_changed_units" "rc=$rc ran='$ran' want='$want' $(grep -v '^moeprobe:   ' "$T/$name.recompute" | tail -3)"
  local fout; fout=$(sed -n 's/^out: //p' "$fresh")
  [ -f "$fout/tiny-qwen2moe.h5" ] || "$B" run "$fresh" > /dev/null 2> "$T/$name.fresh"
  local cmp; cmp=$("$TOOLS/h5cmp" "$out/tiny-qwen2moe.h5" "$fout/tiny-qwen2moe.h5" "${CMP_OPTS[@]}"); rc=$?
  [ $rc = 0 ] && ok "$name/archive_equals_fresh_run" || bad "$name/archive_equals_fresh_run" "$(echo "$cmp" | head -3)"
  "$B" run "$cfg" > /dev/null 2> "$T/$name.again"; rc=$?
  [ $rc = 0 ] && grep -q "5 units, 0 to run" "$T/$name.again" && ok "$name/then_nothing_to_run" ||
    bad "$name/then_nothing_to_run" "rc=$rc $(grep -v '^moeprobe:   ' "$T/$name.again" | head -3)"
}

# max_samples: everything
mkcfg "$T/ms.yaml" "$T/ms" "$T/lre_old" 8
mkcfg "$T/ms_fresh.yaml" "$T/ms_fresh" "$T/lre_old" 8
drift_case max_samples "$T/ms.yaml" "$T/ms_fresh.yaml" \
  "capture/adj_antonym capture/country_language summarise/adj_antonym summarise/country_language summarise/pooled " \
  "config.max_samples 6 -> 8"
# the same with 2 ranks
mkcfg "$T/ms2.yaml" "$T/ms2" "$T/lre_old" 8
drift_case max_samples_mpi2 "$T/ms2.yaml" "$T/ms_fresh.yaml" \
  "capture/adj_antonym capture/country_language summarise/adj_antonym summarise/country_language summarise/pooled " \
  "config.max_samples 6 -> 8" "$MPIRUN -np 2"
# a summarise key: only the summaries, not the capture pass
SUM=$'summarise:\n  stages:\n    early: 0.5\n    mid: 0.3\n    late: 0.2'
mkcfg "$T/sum.yaml" "$T/sum" "$T/lre_old" 6 "" "$SUM"
mkcfg "$T/sum_fresh.yaml" "$T/sum_fresh" "$T/lre_old" 6 "" "$SUM"
drift_case summarise_key "$T/sum.yaml" "$T/sum_fresh.yaml" \
  "summarise/adj_antonym summarise/country_language summarise/pooled " "config.summarise.stages.early 0.55 -> 0.5"
# the model's config.json (a harmless extra key): every unit
mkdir -p "$T/m"; cp -r models/tiny-qwen2moe "$T/m/"
/usr/bin/python3 - "$T/m/tiny-qwen2moe/config.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["_name_or_path"] = "a-copy"
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
mkcfg "$T/mod.yaml" "$T/mod" "$T/lre_old" 6 "$T/m/tiny-qwen2moe"
mkcfg "$T/mod_fresh.yaml" "$T/mod_fresh" "$T/lre_old" 6 "$T/m/tiny-qwen2moe"
drift_case model_config "$T/mod.yaml" "$T/mod_fresh.yaml" \
  "capture/adj_antonym capture/country_language summarise/adj_antonym summarise/country_language summarise/pooled " \
  "model.config_json [0-9a-f]*\.\.\. -> "

# keys that do not change results: nothing to run, no refusal
out=$T/same; cp -r "$T/base" "$out"; sed -i "s|$T/base\b|$out|g" "$out/manifest.json"
mkcfg "$T/same.yaml" "$out" "$T/lre_old" 6 "" $'batch_size: 3\nsnapshot_every_s: 5\nprogress_every_s: 1\neval_precision: bf16_screened'
"$B" run "$T/same.yaml" > /dev/null 2> "$T/same.err"; rc=$?
[ $rc = 0 ] && grep -q "5 units, 0 to run" "$T/same.err" && ! grep -q "another setup" "$T/same.err" &&
  ok run_keys_change_nothing || bad run_keys_change_nothing "rc=$rc $(head -3 "$T/same.err")"
"$B" run "$T/base.yaml" --on-change sometimes > /dev/null 2> "$T/usage.err"; rc=$?
[ $rc = 2 ] && grep -q "expected refuse or recompute" "$T/usage.err" && ok on_change_usage || bad on_change_usage "rc=$rc $(cat "$T/usage.err")"

# eval_precision, a run key only block reads (analysis_def.run_keys): block's units, not capture's
BLK=$'stages: [capture, block]\nblock:\n  top_n: [1]\n  topk_ablation: false\n  only_rank_ablation: false'
mkblk() {  # FILE OUT PRECISION
  mkcfg "$1" "$2" "$T/lre_old" 6 "" "$BLK"$'\n'"eval_precision: $3"
  sed -i '/^stages: \[capture, evaluate/d' "$1"
}
mkblk "$T/blk.yaml" "$T/blk" float32
mkblk "$T/blk16.yaml" "$T/blk" bf16_screened
mkblk "$T/blk16_fresh.yaml" "$T/blk16_fresh" bf16_screened
"$B" run "$T/blk.yaml" > /dev/null 2> "$T/blk.err" || bad eval_precision/base "$(tail -3 "$T/blk.err")"
"$B" run "$T/blk16.yaml" > /dev/null 2> "$T/blk16.refuse"; rc=$?
listed=$(grep -o ': [a-z_]*/[a-z_]* was computed under another setup' "$T/blk16.refuse" | sed 's/^: //; s/ was.*//' | sort | tr '\n' ' ')
[ $rc = 1 ] && [ "$listed" = "block/adj_antonym block/country_language " ] &&
  grep -q "config.eval_precision float32 -> bf16_screened" "$T/blk16.refuse" &&
  ok eval_precision/refused_block_units_only ||
  bad eval_precision/refused_block_units_only "rc=$rc listed='$listed' $(head -3 "$T/blk16.refuse")"
"$B" run "$T/blk16.yaml" --on-change recompute > /dev/null 2> "$T/blk16.recompute"; rc=$?
ran=$(unit_starts "$T/blk16.recompute")
"$B" run "$T/blk16_fresh.yaml" > /dev/null 2> "$T/blk16.fresh"
cmp=$("$TOOLS/h5cmp" "$T/blk/tiny-qwen2moe.h5" "$T/blk16_fresh/tiny-qwen2moe.h5" "${CMP_OPTS[@]}"); crc=$?
[ $rc = 0 ] && [ "$ran" = "block/adj_antonym block/country_language " ] && [ $crc = 0 ] &&
  ok eval_precision/recompute_equals_fresh_run ||
  bad eval_precision/recompute_equals_fresh_run "rc=$rc ran='$ran' h5cmp=$crc $(echo "$cmp" | head -3)"

# a relation's prompt template (changed in place, last): that relation's capture and summarise,
# and the pooled summary
retemplate "$T/lre_old"
mkcfg "$T/tmpl.yaml" "$T/tmpl" "$T/lre_old" 6
mkcfg "$T/tmpl_fresh.yaml" "$T/tmpl_fresh" "$T/lre_old" 6
drift_case template "$T/tmpl.yaml" "$T/tmpl_fresh.yaml" \
  "capture/adj_antonym summarise/adj_antonym summarise/pooled " "relation.adj_antonym [0-9a-f]*\.\.\. -> [0-9a-f]*\.\.\."
