#!/usr/bin/env bash
# make-model and inspect through the CLI: random checkpoints of the six fixture configs load
# with the fixtures' parameter counts and shapes; fused and per-expert layouts agree; seeds are
# deterministic; real configs plan their published sizes (--dry-run), and two real configs are
# written at one layer (Llama-7B in F16, OLMoE with 64 real-size experts) and inspected.
# Full-scale checkpoints are in tests/full/make_model_full.sh (make test-full).
set -u
BIN=${MOEPROBE_BIN:-bin/moeprobe}
SHARED=${MOEPROBE_SHARED:-../shared}
T=$(mktemp -d "${MOEPROBE_TEST_TMP:-/tmp}/make_model.XXXXXX")
trap 'rm -rf "$T"' EXIT
FIX=$SHARED/fixtures/models

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
check() {  # name, condition-command...
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}
json_int() {  # file, key -> first integer value of "key": N
  grep -o "\"$2\": [0-9]*" "$1" | head -1 | grep -o '[0-9]*$'
}

# ---- every fixture config: make, inspect, compare with the fixture itself ----------------------
for m in olmoe qwen2moe mixtral llama qwen2 mistral; do
  out=$T/$m
  if ! "$BIN" make-model --config "$FIX/$m/config.json" --out "$out" --seed 3 --shard-size 1MB \
       --tokenizer "$FIX/$m/tokenizer.json" --quiet >"$T/$m.make.log" 2>&1; then
    fail "make-model $m" "$(cat "$T/$m.make.log")"; continue
  fi
  pass "make-model $m"
  "$BIN" inspect --model "$FIX/$m" --json >"$T/$m.fix.json" 2>"$T/$m.err1"
  "$BIN" inspect --model "$out" --json >"$T/$m.gen.json" 2>"$T/$m.err2"
  want=$(grep -o '"total_parameters": [0-9]*' "$FIX/$m/model.safetensors.index.json" | grep -o '[0-9]*$')
  got=$(json_int "$T/$m.gen.json" total)
  [ "$got" = "$want" ] && pass "inspect $m parameters = fixture index ($want)" \
    || fail "inspect $m parameters" "got '$got' expected '$want' ($(cat "$T/$m.err2"))"
  # same architecture, shapes, windows, experts: the JSON minus paths, bytes and shards
  strip() { sed -e '/"model":/d' -e '/"shards":/,$d' "$1"; }
  if diff <(strip "$T/$m.fix.json") <(strip "$T/$m.gen.json") >"$T/$m.diff"; then
    pass "inspect $m same structure as the fixture"
  else
    fail "inspect $m same structure as the fixture" "$(head -5 "$T/$m.diff" | tr '\n' ' ')"
  fi
  check "make-model $m tokenizer copied" cmp -s "$FIX/$m/tokenizer.json" "$out/tokenizer.json"
  tmpfiles=$(ls "$out" | grep -c '\.tmp\(\.[0-9]*\)\?$')
  [ "$tmpfiles" = 0 ] && pass "make-model $m leaves no temp files" || fail "make-model $m temp files" "$tmpfiles left"
done

# window resolution and tying as inspect reports them
grep -q '^window *8 keys in every layer' <("$BIN" inspect --model "$FIX/mistral") \
  && pass "inspect mistral window 8" || fail "inspect mistral window 8" "not reported"
grep -q '^window *none' <("$BIN" inspect --model "$FIX/qwen2moe") \
  && pass "inspect qwen2moe no window (sliding_window 0, use_sliding_window false)" \
  || fail "inspect qwen2moe no window" "window reported"
grep -q '^tied embed *yes' <("$BIN" inspect --model "$T/qwen2") \
  && pass "inspect qwen2 tied" || fail "inspect qwen2 tied" "not tied"
grep -q 'lm_head' "$T/qwen2/model.safetensors.index.json" \
  && fail "make-model qwen2 writes no lm_head" "lm_head.weight present" \
  || pass "make-model qwen2 writes no lm_head"

# ---- fused expert layout -----------------------------------------------------------------------
for m in olmoe qwen2moe mixtral; do
  "$BIN" make-model --config "$FIX/$m/config.json" --out "$T/$m-fused" --seed 3 --shard-size 1MB \
    --fused-experts --quiet >/dev/null 2>"$T/err" || { fail "make-model $m fused" "$(cat "$T/err")"; continue; }
  "$BIN" inspect --model "$T/$m-fused" --json >"$T/$m.fused.json" 2>"$T/err"
  grep -q '"layout": "fused"' "$T/$m.fused.json" && grep -q 'experts.gate_up_proj' "$T/$m-fused/model.safetensors.index.json" \
    && pass "inspect $m fused layout" || fail "inspect $m fused layout" "$(cat "$T/err")"
  [ "$(json_int "$T/$m.fused.json" total)" = "$(json_int "$T/$m.gen.json" total)" ] && \
  [ "$(json_int "$T/$m.fused.json" active)" = "$(json_int "$T/$m.gen.json" active)" ] \
    && pass "$m fused parameters = per-expert" || fail "$m fused parameters" "differ"
done
grep -q '"model.layers.0.mlp.gate.weight"' "$T/mixtral-fused/model.safetensors.index.json" && \
  ! grep -q 'block_sparse_moe' "$T/mixtral-fused/model.safetensors.index.json" \
  && pass "mixtral fused uses transformers-5 names (mlp.*)" || fail "mixtral fused names" "block_sparse_moe left"

# ---- determinism -------------------------------------------------------------------------------
"$BIN" make-model --config "$FIX/olmoe/config.json" --out "$T/s1" --seed 11 --quiet >/dev/null 2>&1
"$BIN" make-model --config "$FIX/olmoe/config.json" --out "$T/s2" --seed 11 --quiet >/dev/null 2>&1
"$BIN" make-model --config "$FIX/olmoe/config.json" --out "$T/s3" --seed 12 --quiet >/dev/null 2>&1
check "make-model same seed, same bytes" cmp -s "$T/s1/model.safetensors" "$T/s2/model.safetensors"
if cmp -s "$T/s1/model.safetensors" "$T/s3/model.safetensors"; then
  fail "make-model other seed, other bytes" "identical"
else pass "make-model other seed, other bytes"; fi
hl=$(od -An -t u8 -N 8 "$T/s1/model.safetensors" | tr -d ' ')
[ $((hl % 8)) = 0 ] && pass "header length $hl is 8-byte aligned" || fail "header alignment" "$hl"

# ---- --layers, --dtype, config rewriting ------------------------------------------------------
"$BIN" make-model --config "$FIX/qwen2/config.json" --out "$T/q2l" --layers 2 --dtype f32 --quiet >/dev/null 2>"$T/err"
"$BIN" inspect --model "$T/q2l" --json >"$T/q2l.json" 2>>"$T/err"
[ "$(json_int "$T/q2l.json" num_hidden_layers)" = 2 ] && grep -q '"F32":' "$T/q2l.json" && \
  grep -q '"dtype": "float32"' "$T/q2l/config.json" && [ "$(grep -c "\"full_attention\"" "$T/q2l/config.json")" = 2 ] \
  && pass "make-model --layers 2 --dtype f32 (config, layer_types, dtype)" \
  || fail "make-model --layers --dtype" "$(cat "$T/err")"

# ---- real configs: published sizes without writing ---------------------------------------------
R=$SHARED/configs-real
dry() { "$BIN" make-model --config "$R/$1/config.json" --dry-run; }
while read -r name total active; do
  line=$(dry "$name")
  got_t=$(echo "$line" | grep -o '[0-9]* parameters' | grep -o '^[0-9]*')
  got_a=$(echo "$line" | grep -o '[0-9]* active' | grep -o '^[0-9]*')
  [ "$got_t" = "$total" ] && [ "$got_a" = "$active" ] \
    && pass "dry-run $name: $total total, $active active" \
    || fail "dry-run $name" "got $got_t / $got_a, expected $total / $active ($line)"
done <<'EOF'
olmoe-1b-7b-0924 6919161856 1282017280
qwen1.5-moe-a2.7b 14315784192 2689173504
mixtral-8x7b-v0.1 46702792704 12879925248
llama-7b 6738415616 6738415616
qwen1.5-7b 7721324544 7721324544
mistral-7b-v0.1 7241732096 7241732096
EOF
# (published: OLMoE 6.9B/1.3B, Qwen1.5-MoE 14.3B/2.7B, Mixtral 46.7B/12.9B, Llama 6.7B,
#  Qwen1.5-7B 7.7B, Mistral 7.2B)

# ---- two real configs at one layer, written and inspected --------------------------------------
real_one() {  # name, expected params at 1 layer, expected dtype
  local out=$T/real-$1
  if ! "$BIN" make-model --config "$R/$1/config.json" --out "$out" --layers 1 --shard-size 600MB \
       --quiet >/dev/null 2>"$T/err"; then fail "make-model $1 --layers 1" "$(cat "$T/err")"; return; fi
  "$BIN" inspect --model "$out" --json >"$T/real.json" 2>"$T/err"
  local got; got=$(json_int "$T/real.json" total)
  [ "$got" = "$2" ] && grep -q "\"$3\":" "$T/real.json" \
    && pass "inspect $1 --layers 1: $2 parameters, $3" || fail "inspect $1 --layers 1" "got $got ($(cat "$T/err"))"
  rm -rf "$out"
}
real_one llama-7b 464531456 F16
real_one olmoe-1b-7b-0924 625616896 BF16

# ---- CLI contract ------------------------------------------------------------------------------
"$BIN" make-model --help >/dev/null; check "make-model --help exits 0" test $? = 0
"$BIN" inspect --help >/dev/null; check "inspect --help exits 0" test $? = 0
"$BIN" make-model --out "$T/x" 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q -- "--config FILE" "$T/err" && pass "make-model without --config: usage, exit 2" || fail "make-model usage" "rc $rc"
"$BIN" make-model --config "$FIX/llama/config.json" --out "$T/x" --dtype f8 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "expected bf16, f16 or f32" "$T/err" && pass "make-model bad --dtype: exit 2" || fail "make-model bad --dtype" "rc $rc"
"$BIN" make-model --config "$FIX/llama/config.json" --out "$T/x" --shard-size 5QB 2>"$T/err"; rc=$?
[ $rc = 2 ] && pass "make-model bad --shard-size: exit 2" || fail "make-model bad --shard-size" "rc $rc"
"$BIN" inspect --model "$FIX/llama" --bogus 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "unknown option '--bogus'" "$T/err" && pass "inspect unknown option: exit 2" || fail "inspect unknown option" "rc $rc"
"$BIN" make-model --config "$FIX/llama/config.json" --out "$T/llama" --quiet 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "already holds" "$T/err" && grep -q -- "--force" "$T/err" \
  && pass "make-model refuses an existing checkpoint" || fail "make-model existing checkpoint" "rc $rc"
"$BIN" make-model --config "$FIX/llama/config.json" --out "$T/llama" --force --quiet >/dev/null 2>"$T/err"; rc=$?
[ $rc = 0 ] && [ ! -e "$T/llama/model.safetensors.index.json" ] && [ -e "$T/llama/model.safetensors" ] \
  && ! ls "$T/llama" | grep -q '^model-' && "$BIN" inspect --model "$T/llama" >/dev/null 2>&1 \
  && pass "make-model --force replaces the old shards" || fail "make-model --force" "rc $rc $(ls "$T/llama")"
"$BIN" inspect --model "$T/nothing" 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "nothing: no such file or folder" "$T/err" && pass "inspect missing folder: exit 1 with message" \
  || fail "inspect missing folder" "rc $rc $(cat "$T/err")"
printf '{"architectures": ["GPT2LMHeadModel"]}' >"$T/gpt2.json"
"$BIN" make-model --config "$T/gpt2.json" --out "$T/g" 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q 'gpt2.json: "architectures" = \["GPT2LMHeadModel"\], expected one of' "$T/err" \
  && pass "make-model unsupported architecture: exit 1" || fail "make-model unsupported architecture" "rc $rc $(cat "$T/err")"
exit 0
