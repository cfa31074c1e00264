#!/usr/bin/env bash
# The archive schema (stages/schema_*.c, pipeline/archive/schema_root.c) against what the writers
# produce and against docs/archive.md:
#   - docs/archive.md is exactly what bin/tools/schema_doc prints (scripts/gen-archive-doc.sh);
#   - archives of runs with every stage match the schema in both directions (schema_check):
#     tiny-qwen2moe (MoE with a shared expert) under mpirun -np 2, tiny-llama (dense), and
#     tiny-olmoe with capture.positions all and the temporal head-expert correlation;
#   - schema_check finds an object without an entry (a dataset copied in by h5copy) and a required
#     entry that is missing (analyses/ skipped with --drop).
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/archive_schema; mkdir -p "$T"
TOOLS=$(dirname "$B")/tools
cd "$R"

"$TOOLS/schema_doc" > "$T/archive.md"
if cmp -s "$T/archive.md" docs/archive.md; then echo "PASS archive_schema/doc_current"
else echo "FAIL archive_schema/doc_current: docs/archive.md is out of date: run scripts/gen-archive-doc.sh ($(diff docs/archive.md "$T/archive.md" | head -3 | tr '\n' ' '))"; fi

run() {  # name, model, np, extra YAML
  local name=$1 m=$2 np=$3 extra=$4
  cat > "$T/$name.yaml" <<YAML
model: $R/models/tiny-$m
relations: [country_capital_city, adj_antonym, fruit_inside_color]
relations_dir: $R/data/lre
out: $T/$name
max_samples: 6
stages: [capture, evaluate, attribute, summarise, block, heads_experts, neurons]
snapshot_every_s: 1e9  # one rebuild at the end: the same archive, without one per unit
$extra
YAML
  if ! mpirun --oversubscribe --allow-run-as-root -np "$np" "$B" run "$T/$name.yaml" >/dev/null 2>"$T/$name.err"; then
    echo "FAIL archive_schema/$name/run: $(tail -3 "$T/$name.err")"; return
  fi
  out=$("$TOOLS/schema_check" "$T/$name/tiny-$m.h5" 2>&1)
  [ $? -eq 0 ] && echo "PASS archive_schema/$name/matches_schema" \
    || echo "FAIL archive_schema/$name/matches_schema: $(echo "$out" | head -5 | tr '\n' ' ')"
  echo "INFO $name: ${out##*: }"
}
run moe_shared qwen2moe 2 ""
run dense llama 1 ""
run all_positions olmoe 1 "capture:
  positions: all
heads_experts:
  correlation: temporal"

# the checker itself: an unknown group, and a copy without analyses/
A=$T/moe_shared/tiny-qwen2moe.h5
if [ -f "$A" ]; then
  cp "$A" "$T/extra.h5"
  h5copy -i "$A" -o "$T/extra.h5" -s /evaluate/adj_antonym/rank -d /stray_rank >/dev/null 2>&1
  out=$("$TOOLS/schema_check" "$T/extra.h5" 2>&1)
  if [ $? -eq 1 ] && echo "$out" | grep -q "dataset stray_rank has no schema entry"; then
    echo "PASS archive_schema/check_finds_unknown_object"
  else echo "FAIL archive_schema/check_finds_unknown_object: $(echo "$out" | tail -2 | tr '\n' ' ')"; fi
  out=$("$TOOLS/schema_check" "$A" --drop analyses 2>&1)
  if [ $? -ne 0 ] && echo "$out" | grep -q "group analyses/{rel}/summary (analysis summarise) is required"; then
    echo "PASS archive_schema/check_finds_missing_entry"
  else echo "FAIL archive_schema/check_finds_missing_entry: $(echo "$out" | tail -2 | tr '\n' ' ')"; fi
fi
