#!/usr/bin/env bash
# Full-scale checkpoints (make test-full): make-model writes random-weight checkpoints of the six
# real configs in the fixtures' configs-real (all layers; Mixtral-8x7B with MIXTRAL_LAYERS layers,
# default 2, as its full 93 GB rarely fits), then inspect loads each one (every tensor bound and
# shape-checked) and must report the expected parameter counts while staying small in memory.
# Prints PASS/FAIL lines plus INFO lines with sizes, times, MB/s and inspect's peak RSS. Each
# checkpoint is deleted before the next is written; a model that does not fit the free disk
# space is reported as FAIL (nothing is written). Needs about 31 GB free for Qwen1.5-MoE.
#   usage: tests/full/make_model_full.sh [BIN]     env: FULL_TMP (default /tmp), MIXTRAL_LAYERS
set -u
BINDIR=${1:-bin}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MOEPROBE_BIN:-$ROOT/$BINDIR/moeprobe}
SHARED=${MOEPROBE_SHARED:-$(cd "$ROOT/../shared" && pwd)}
R=$SHARED/configs-real
T=$(mktemp -d "${FULL_TMP:-/tmp}/moeprobe-full.XXXXXX")
trap 'rm -rf "$T"' EXIT
ML=${MIXTRAL_LAYERS:-2}
pass=0; fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

# name layers expected-total expected-active (published: OLMoE 6.9B/1.3B, Qwen1.5-MoE
# 14.3B/2.7B, Mixtral 46.7B/12.9B at 32 layers, Llama 6.7B, Qwen1.5-7B 7.7B, Mistral 7.2B)
while read -r name layers total active; do
  [ "$name" = mixtral-8x7b-v0.1 ] && layers=$ML
  out=$T/$name
  args=(--config "$R/$name/config.json" --out "$out" --quiet)
  [ "$layers" != all ] && args+=(--layers "$layers")
  plan=$("$BIN" make-model "${args[@]}" --dry-run)
  bytes=$(echo "$plan" | grep -o '[0-9]* bytes' | grep -o '^[0-9]*')
  want_t=$(echo "$plan" | grep -o '[0-9]* parameters' | grep -o '^[0-9]*')
  want_a=$(echo "$plan" | grep -o '[0-9]* active' | grep -o '^[0-9]*')
  if [ "$layers" = all ]; then
    [ "$want_t" = "$total" ] && [ "$want_a" = "$active" ] && ok "$name plan: $total total, $active active" \
      || ko "$name plan" "got $want_t / $want_a, expected $total / $active"
  fi
  free=$(df -B1 --output=avail "$T" | tail -1)
  if [ "$free" -lt $((bytes + 2000000000)) ]; then
    ko "$name make-model" "needs $bytes bytes, only $free free in $T"; continue
  fi
  t0=$(date +%s.%N)
  if ! "$BIN" make-model "${args[@]}" >"$T/make.log" 2>&1; then
    ko "$name make-model" "$(tail -2 "$T/make.log")"; rm -rf "$out"; continue
  fi
  t1=$(date +%s.%N)
  secs=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")
  disk=$(du -sb "$out" | cut -f1)
  echo "INFO $name: layers $layers, $(awk "BEGIN{printf \"%.2f\", $bytes/1e9}") GB in $secs s ($(awk "BEGIN{printf \"%.0f\", $bytes/1e6/($t1-$t0)}") MB/s), $(ls "$out" | grep -c safetensors$) shards"
  ok "$name make-model ($disk bytes on disk)"
  /usr/bin/time -f '%M %e' -o "$T/time" "$BIN" inspect --model "$out" --json >"$T/inspect.json" 2>"$T/inspect.err"
  rc=$?
  read -r rss_kb isecs <"$T/time"
  got_t=$(grep -o '"total": [0-9]*' "$T/inspect.json" | head -1 | grep -o '[0-9]*$')
  got_a=$(grep -o '"active": [0-9]*' "$T/inspect.json" | grep -o '[0-9]*$')
  [ $rc = 0 ] && [ "$got_t" = "$want_t" ] && [ "$got_a" = "$want_a" ] \
    && ok "$name inspect: every tensor bound, $got_t parameters, $got_a active" \
    || ko "$name inspect" "rc $rc params $got_t/$got_a, expected $want_t/$want_a $(cat "$T/inspect.err")"
  echo "INFO $name inspect: peak RSS $((rss_kb / 1024)) MiB, $isecs s"
  [ "$rss_kb" -lt 65536 ] && ok "$name inspect peak RSS $((rss_kb / 1024)) MiB < 64 MiB" \
    || ko "$name inspect peak RSS" "$rss_kb kB"
  rm -rf "$out"
done <<'EOF'
olmoe-1b-7b-0924 all 6919161856 1282017280
qwen1.5-moe-a2.7b all 14315784192 2689173504
mixtral-8x7b-v0.1 2 0 0
llama-7b all 6738415616 6738415616
qwen1.5-7b all 7721324544 7721324544
mistral-7b-v0.1 all 7241732096 7241732096
EOF
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
