#!/usr/bin/env bash
# The README's ranks -> nodes -> experts table is what scripts/cluster-table.sh computes from
# configs/hf/*.json now (a change of the placement rule, of make-model's byte count or of the
# configs must show up in the README), and its figures agree with the measured full-scale
# ones in docs/performance.md (OLMoE-1B-7B: 12.88 GB of experts in all, 6.44 GB per rank at 2).
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT
if ! want=$("$R/scripts/cluster-table.sh" "$B" 2>&1); then
  echo "FAIL cluster_table/script: $want"; exit 0
fi
got=$(sed -n '/^| model | nodes (1 rank each)/,/^$/p' "$R/README.md" | sed '/^$/d')
[ "$got" = "$want" ] && echo "PASS cluster_table/readme_matches_script" ||
  echo "FAIL cluster_table/readme_matches_script: $(diff <(echo "$got") <(echo "$want") | head -6 | tr '\n' ' ')"
echo "$want" | grep -q '^| OLMoE-1B-7B | 1 | 64 of 64 | 12.88 GB |' &&
  echo "$want" | grep -q '^| OLMoE-1B-7B | 2 | 32 of 64 | 6.44 GB |' &&
  echo "PASS cluster_table/matches_measured_expert_bytes" ||
  echo "FAIL cluster_table/matches_measured_expert_bytes: $(echo "$want" | grep OLMoE | head -2 | tr '\n' ' ')"
