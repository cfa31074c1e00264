#!/usr/bin/env bash
# A failing rank ends the whole job promptly, with a non-zero status and the failing rank's
# message — never a hang (every case runs under `timeout`).
#  1. bad input on one rank: a tokenizer with an added token the model's vocabulary lacks; only
#     the rank whose prompts contain it fails (in the forward pass's input check), mid-way
#     through a data-parallel trace;
#  2. a rank killed with SIGKILL in the middle of a run.
set -u
B=$MOEPROBE_BIN; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/mpi_faults; mkdir -p "$T"
MPI=(mpirun --oversubscribe --allow-run-as-root)

# 1. an added token with an id past the model's 2981 embeddings
sed 's|^  "added_tokens": \[|  "added_tokens": [\n    {"id": 2981, "content": "QQBADQQ", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false},|' \
  "$R/models/tiny-olmoe/tokenizer.json" > "$T/tokenizer.json"
t0=$(date +%s)
timeout 60 "${MPI[@]}" -np 3 "$B" trace --model "$R/models/tiny-olmoe" --tokenizer "$T/tokenizer.json" \
  --prompt "The capital of Canada is" --prompt "hello there" --prompt "bad QQBADQQ here" \
  --batch-size 1 --out "$T/bad.h5" >"$T/out1" 2>"$T/err1"
rc=$?; t1=$(date +%s)
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 2/3.*token id 2981, outside the vocabulary 0..2980" "$T/err1"; then
  echo "PASS mpi_faults/bad_input_on_one_rank_ends_job (exit $rc in $((t1 - t0))s)"
else
  echo "FAIL mpi_faults/bad_input_on_one_rank_ends_job: exit $rc after $((t1 - t0))s; stderr: $(head -5 "$T/err1")"
fi
[ ! -s "$T/out1" ] && echo "PASS mpi_faults/bad_input_no_archive_path_printed" \
  || echo "FAIL mpi_faults/bad_input_no_archive_path_printed: $(cat "$T/out1")"

# 2. SIGKILL one rank of a running `moeprobe run` (capture + attribution over all relations:
#    long enough to be killed in the middle)
cat > "$T/run.yaml" <<YAML
model: $R/models/tiny-qwen2moe
relations: [$R/data/lre/adj_antonym.json, $R/data/lre/country_capital_city.json, $R/data/lre/country_language.json, $R/data/lre/fruit_inside_color.json, $R/data/lre/name_birthplace.json]
out: $T/run-out
stages: [capture, evaluate, attribute]
batch_size: 4
YAML
timeout 120 "${MPI[@]}" -np 3 "$B" run "$T/run.yaml" >"$T/out2" 2>"$T/err2" &
mp=$!
victim=""
for _ in $(seq 1 100); do  # wait until the first unit is done, then pick rank 1's process
  if grep -q "done capture/" "$T/err2" 2>/dev/null; then
    victim=$(pgrep -f "moeprobe run $T/run.yaml" | while read -r p; do
      [ "$(cat /proc/$p/environ 2>/dev/null | tr '\0' '\n' | grep -c '^OMPI_COMM_WORLD_RANK=1$')" = 1 ] && echo "$p"; done | head -1)
    break
  fi
  sleep 0.2
done
if [ -z "$victim" ]; then
  echo "FAIL mpi_faults/killed_rank_ends_job: could not find rank 1 of the running job"
  kill "$mp" 2>/dev/null; wait "$mp" 2>/dev/null
else
  t0=$(date +%s.%N)
  kill -9 "$victim"
  wait "$mp"; rc=$?
  t1=$(date +%s.%N)
  secs=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && awk "BEGIN{exit !($t1 - $t0 < 30)}"; then
    echo "PASS mpi_faults/killed_rank_ends_job (exit $rc ${secs}s after the kill)"
  else
    echo "FAIL mpi_faults/killed_rank_ends_job: exit $rc, ${secs}s after the kill; $(tail -3 "$T/err2")"
  fi
  # the units completed before the kill are intact and a rerun (1 process) completes the rest
  done_before=$(grep -c "done capture/" "$T/err2")
  if timeout 120 "$B" run "$T/run.yaml" >"$T/out3" 2>"$T/err3"; then
    todo=$(sed -n 's/.*5 units, \([0-9]*\) to run.*/\1/p' "$T/err3")
    if [ -n "$todo" ] && [ "$todo" -le $((5 - done_before)) ]; then
      echo "PASS mpi_faults/rerun_after_kill_resumes ($done_before done before the kill, $todo rerun)"
    else
      echo "FAIL mpi_faults/rerun_after_kill_resumes: $done_before done before the kill but $todo to run"
    fi
  else
    echo "FAIL mpi_faults/rerun_after_kill_resumes: $(tail -3 "$T/err3")"
  fi
fi
