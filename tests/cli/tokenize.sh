#!/usr/bin/env bash
# `moeprobe tokenize` end to end: arguments, --no-special, --stdin-jsonl, a checkpoint folder
# as --tokenizer, errors and exit codes (0 ok, 1 failure with one message, 2 usage). Expected
# ids are Hugging Face tokenizers' (fixtures/tokenizer/golden_ids.json and refs).
set -u
BIN=${MOEPROBE_BIN:-bin/moeprobe}
SHARED=${MOEPROBE_SHARED:-../shared}
TMP=${MOEPROBE_TEST_TMP:-/tmp}/cli-tokenize.$$
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
SP=$SHARED/fixtures/models/llama/tokenizer.json
QWEN=$SHARED/fixtures/tokenizer/qwen.tokenizer.json

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# check NAME EXPECTED_RC EXPECTED_STDOUT -- command...
check() {
  local name=$1 want_rc=$2 want_out=$3; shift 4
  local out rc
  out=$("$@" 2>"$TMP/err"); rc=$?
  if [ "$rc" -ne "$want_rc" ]; then
    fail "$name" "exit $rc, expected $want_rc; stderr: $(head -c 300 "$TMP/err")"
  elif [ "$want_out" != "*" ] && [ "$out" != "$want_out" ]; then
    fail "$name" "stdout '$out', expected '$want_out'"
  else
    pass "$name"
  fi
}
# check_err NAME EXPECTED_RC PATTERN -- command...: non-zero exit, one stderr line matching
check_err() {
  local name=$1 want_rc=$2 pat=$3; shift 4
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; local rc=$?
  local lines; lines=$(wc -l <"$TMP/err")
  if [ "$rc" -ne "$want_rc" ]; then
    fail "$name" "exit $rc, expected $want_rc; stderr: $(head -c 300 "$TMP/err")"
  elif [ "$lines" -ne 1 ] || ! grep -q -- "$pat" "$TMP/err"; then
    fail "$name" "stderr should be one line matching '$pat', got: $(head -c 400 "$TMP/err")"
  else
    pass "$name"
  fi
}

check tokenize/one-text 0 "1 348 488 345 2221 344" -- "$BIN" tokenize --tokenizer "$SP" "The opposite of love is"
check tokenize/no-special 0 "348 488 345 2221 344" -- "$BIN" tokenize --tokenizer "$SP" --no-special "The opposite of love is"
check tokenize/options-after-text 0 "348 488 345 2221 344" -- "$BIN" tokenize "The opposite of love is" --no-special --tokenizer="$SP"
check tokenize/two-texts 0 "$(printf '785 14002 315 2948 374\n785 14002 315 1855 374')" -- \
  "$BIN" tokenize --tokenizer "$QWEN" "The opposite of love is" "The opposite of create is"
check tokenize/checkpoint-folder 0 "1 348 488 345 2221 344" -- "$BIN" tokenize --tokenizer "$SHARED/fixtures/models/llama" "The opposite of love is"
check tokenize/empty-text 0 "1" -- "$BIN" tokenize --tokenizer "$SP" ""
check tokenize/empty-text-no-special 0 "" -- "$BIN" tokenize --tokenizer "$SP" --no-special ""
check tokenize/double-dash 0 "1 325 48 48 318" -- "$BIN" tokenize --tokenizer "$SP" -- "--x"
check tokenize/help 0 "*" -- "$BIN" tokenize --help
if "$BIN" tokenize --help | grep -q -- "--stdin-jsonl"; then pass tokenize/help-text; else fail tokenize/help-text "--help does not mention --stdin-jsonl"; fi

# --stdin-jsonl: the golden texts of tiny-sp (JSON escapes, tabs, newlines, emoji) in one go.
if command -v python3 >/dev/null; then
  python3 - "$SHARED/fixtures/tokenizer/golden_ids.json" "$TMP" <<'EOF'
import json, sys
g = json.load(open(sys.argv[1]))["tiny-sp"]
with open(sys.argv[2] + "/in.jsonl", "w") as f:
    for e in g: f.write(json.dumps(e["text"]) + "\n")
with open(sys.argv[2] + "/want.txt", "w") as f:
    for e in g: f.write(" ".join(map(str, e["ids"])) + "\n")
EOF
  "$BIN" tokenize --tokenizer "$SP" --stdin-jsonl <"$TMP/in.jsonl" >"$TMP/got.txt" 2>"$TMP/err"
  rc=$?
  if [ $rc -eq 0 ] && cmp -s "$TMP/got.txt" "$TMP/want.txt"; then
    pass tokenize/stdin-jsonl-golden
  else
    fail tokenize/stdin-jsonl-golden "exit $rc; $(diff "$TMP/got.txt" "$TMP/want.txt" | head -5) $(head -c 200 "$TMP/err")"
  fi
fi
printf '"a\\u00e9b"\n"\\\\u00edx"\n""\n' >"$TMP/esc.jsonl"
check tokenize/stdin-jsonl-escapes 0 "$(printf '1 342 321 296\n1 325 1007 552 318\n1')" -- \
  sh -c "'$BIN' tokenize --tokenizer '$SP' --stdin-jsonl <'$TMP/esc.jsonl'"
printf '"ok"\n{"not": "a string"}\n' >"$TMP/obj.jsonl"
check_err tokenize/stdin-jsonl-not-string 1 "stdin line 2: expected a JSON string" -- \
  sh -c "'$BIN' tokenize --tokenizer '$SP' --stdin-jsonl <'$TMP/obj.jsonl'"
printf '"ok"\n"fine"\n"broken\n' >"$TMP/bad.jsonl"
check_err tokenize/stdin-jsonl-bad-json 1 "stdin line 3: not valid JSON" -- \
  sh -c "'$BIN' tokenize --tokenizer '$SP' --stdin-jsonl <'$TMP/bad.jsonl'"
printf '"a\\ud800b"\n' >"$TMP/sur.jsonl"
check_err tokenize/stdin-jsonl-lone-surrogate 1 "stdin line 1" -- \
  sh -c "'$BIN' tokenize --tokenizer '$SP' --stdin-jsonl <'$TMP/sur.jsonl'"
check tokenize/stdin-jsonl-empty-input 0 "" -- sh -c "'$BIN' tokenize --tokenizer '$SP' --stdin-jsonl </dev/null"

# Errors and exit codes.
check_err tokenize/invalid-utf8 1 "TEXT 1: text is not valid UTF-8: .*byte offset 2" -- "$BIN" tokenize --tokenizer "$SP" "$(printf 'ab\377cd')"
check_err tokenize/missing-file 1 "cannot open tokenizer file $TMP/nope.json" -- "$BIN" tokenize --tokenizer "$TMP/nope.json" "x"
echo '{"model": {"type": "Unigram", "vocab": []}}' >"$TMP/unigram.json"
check_err tokenize/unsupported-model 1 'model type "Unigram" is not supported' -- "$BIN" tokenize --tokenizer "$TMP/unigram.json" "x"
echo '{"model": ' >"$TMP/trunc.json"
check_err tokenize/truncated-json 1 "not valid JSON" -- "$BIN" tokenize --tokenizer "$TMP/trunc.json" "x"
check_err tokenize/no-tokenizer 2 "tokenizer FILE is required" -- "$BIN" tokenize "x"
check_err tokenize/no-text 2 "no TEXT given" -- "$BIN" tokenize --tokenizer "$SP"
check_err tokenize/text-and-jsonl 2 "give no TEXT" -- "$BIN" tokenize --tokenizer "$SP" --stdin-jsonl "x"
check_err tokenize/unknown-option 2 "unknown option --frobnicate" -- "$BIN" tokenize --tokenizer "$SP" --frobnicate "x"
check_err tokenize/tokenizer-needs-value 2 "needs a FILE" -- "$BIN" tokenize --tokenizer

# A long text through argv (100k chars) must work and give one line.
long=$(head -c 100000 /dev/zero | tr '\0' 'a')
n=$("$BIN" tokenize --tokenizer "$QWEN" "$long" | wc -w)
if [ "$n" = "12500" ]; then pass tokenize/long-text; else fail tokenize/long-text "$n ids for 100k 'a', Hugging Face gives 12500"; fi
