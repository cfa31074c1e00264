#!/usr/bin/env bash
# Prints the README's ranks -> nodes -> experts table (markdown) for the three MoE models of the
# paper, from their Hugging Face config.json (copies in configs/hf/) and the byte count moeprobe
# itself plans for the checkpoint (`moeprobe make-model --config FILE --dry-run`, bf16).
# One rank per node, contiguous placement (pipeline/parallel/expert_parallel.h): at N nodes a
# rank holds ceil(E/N) experts of every MoE layer (the largest share). Replicated = everything
# but the routed experts (embeddings, lm_head, attention, norms, routers, the shared expert):
# every rank holds it. Minimum node memory = the weights one node holds (memory-mapped bf16,
# used as stored) plus 1 GiB for activations and the runtime (measured at full scale:
# peak RSS = weights + 0.06 GB for OLMoE at 2 ranks, docs/performance.md).
# usage: scripts/cluster-table.sh [MOEPROBE]   (default bin/moeprobe)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-bin/moeprobe}
echo "| model | nodes (1 rank each) | experts per rank and layer | expert bytes per rank | replicated bytes | minimum node memory |"
echo "|---|---|---|---|---|---|"
for m in olmoe-1b-7b-0924:OLMoE-1B-7B qwen1.5-moe-a2.7b:Qwen1.5-MoE-A2.7B mixtral-8x7b-v0.1:Mixtral-8x7B; do
  f=configs/hf/${m%%:*}.json
  total=$("$B" make-model --config "$f" --dry-run | sed -n 's/.* \([0-9]*\) bytes$/\1/p')
  read -r E L H I < <(/usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
E = c.get("num_experts", c.get("num_local_experts"))
I = c.get("moe_intermediate_size", c["intermediate_size"])
print(E, c["num_hidden_layers"], c["hidden_size"], I)' "$f")
  for n in 1 2 4 8; do
    awk -v name="${m#*:}" -v n="$n" -v E="$E" -v L="$L" -v H="$H" -v I="$I" -v total="$total" 'BEGIN {
      per = 3 * H * I * 2                       # gate, up, down in bf16
      experts = E * L * per; rep = total - experts
      k = int((E + n - 1) / n); mine = k * L * per
      gb = 1e9; gib = 1024 ^ 3
      printf "| %s | %d | %d of %d | %.2f GB | %.2f GB | %.1f GiB |\n", name, n, k, E, mine / gb,
             rep / gb, (rep + mine) / gib + 1
    }'
  done
done
