#!/usr/bin/env bash
# Tokenizer speed against Hugging Face tokenizers (Python, .bench-venv), same machine, same
# work on both sides: load of the 151k-token Qwen tokenizer.json, and encoding of the 906 LRE
# prompts (every sample of data/lre/*.json with prompt_templates_zs[0]), one encode call per
# prompt; medians of REPEATS runs. Also the whole `moeprobe tokenize --stdin-jsonl` process
# against a Python process doing load + encode + print, and a check that both give the same
# ids for every prompt. Ratio = moeprobe time / Hugging Face time (below 1: moeprobe faster).
set -eu
ROOT=${MOEPROBE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT"
BIN=${MOEPROBE_BIN:-$ROOT/bin/moeprobe}
SHARED=${MOEPROBE_SHARED:-$ROOT/../shared}
OUT=${BENCH_OUT:-$ROOT/bench/out}
REPEATS=${REPEATS:-5}
TOKJ=$SHARED/fixtures/tokenizer/qwen.tokenizer.json
mkdir -p "$OUT"
PY=$(bench/venv.sh tokenizers)

# The prompts, decoded by Python's json module (so "\\u00ed" stays a backslash sequence).
python3 - "$ROOT/data/lre" "$OUT/lre_prompts.jsonl" <<'PYEOF'
import glob, json, sys
out = []
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    d = json.load(open(f, encoding="utf-8"))
    tpl = d["prompt_templates_zs"][0]
    out += [tpl.replace("{}", s["subject"]) for s in d["samples"]]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for p in out:
        f.write(json.dumps(p) + "\n")
PYEOF
NP=$(wc -l <"$OUT/lre_prompts.jsonl")

# moeprobe side: a tiny program against the library (bench/tokenizer_bench.c).
cc -O2 -std=c11 -D_GNU_SOURCE -I. $(pkg-config --cflags jansson libpcre2-8 libutf8proc) \
  -o "$OUT/tokenizer_bench" bench/tokenizer_bench.c build/libmoeprobe.a \
  $(pkg-config --libs jansson libpcre2-8 libutf8proc) -lm -lpthread
mp=$("$OUT/tokenizer_bench" "$TOKJ" "$OUT/lre_prompts.jsonl" "$REPEATS" "$OUT/ids_moeprobe.txt")
hf=$("$PY" bench/tokenizer_bench.py "$TOKJ" "$OUT/lre_prompts.jsonl" "$REPEATS" "$OUT/ids_hf.txt")
echo "moeprobe: $mp"
echo "hf:       $hf"
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ver=$(get "$hf" version)
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
ms() { awk "BEGIN{printf \"%.1f ms\", $1 * 1000}"; }

l1=$(get "$mp" load_s); l2=$(get "$hf" load_s)
printf 'ROW\ttokenizer\tload qwen tokenizer.json (151,643 tokens, 151,387 merges)\t%s\t%s\t%s\tmedian of %s; HF tokenizers %s\n' \
  "$(ms "$l1")" "$(ms "$l2")" "$(ratio "$l1" "$l2")" "$REPEATS" "$ver"
e1=$(get "$mp" encode_s); e2=$(get "$hf" encode_s); b2=$(get "$hf" batch_s)
printf 'ROW\ttokenizer\tencode %s LRE prompts, one call each\t%s\t%s\t%s\t%s ids; %.1f us/prompt vs %.1f\n' \
  "$NP" "$(ms "$e1")" "$(ms "$e2")" "$(ratio "$e1" "$e2")" "$(get "$mp" ids)" \
  "$(awk "BEGIN{print $e1 * 1e6 / $NP}")" "$(awk "BEGIN{print $e2 * 1e6 / $NP}")"
printf 'ROW\ttokenizer\tencode %s LRE prompts, HF encode_batch (threads)\t%s\t%s\t%s\tmoeprobe: single-thread calls\n' \
  "$NP" "$(ms "$e1")" "$(ms "$b2")" "$(ratio "$e1" "$b2")"

# Whole processes: moeprobe tokenize --stdin-jsonl vs python load + encode + print.
best() {  # best wall time of REPEATS runs of "$@" (stdout to /dev/null)
  local b=""
  for _ in $(seq "$REPEATS"); do
    local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
    b=$(awk -v a="$b" -v d="$(awk "BEGIN{print $t1 - $t0}")" 'BEGIN{print (a == "" || d < a) ? d : a}')
  done
  echo "$b"
}
c1=$(best sh -c "'$BIN' tokenize --tokenizer '$TOKJ' --stdin-jsonl <'$OUT/lre_prompts.jsonl'")
c2=$(best sh -c "'$PY' -c 'import json,sys
from tokenizers import Tokenizer
t = Tokenizer.from_file(sys.argv[1])
for line in open(sys.argv[2], encoding=\"utf-8\"):
    print(\" \".join(map(str, t.encode(json.loads(line)).ids)))' '$TOKJ' '$OUT/lre_prompts.jsonl'")
printf 'ROW\ttokenizer\tprocess: load + encode %s prompts + print\t%s\t%s\t%s\tbest of %s; moeprobe tokenize --stdin-jsonl vs python script\n' \
  "$NP" "$(ms "$c1")" "$(ms "$c2")" "$(ratio "$c1" "$c2")" "$REPEATS"

"$BIN" tokenize --tokenizer "$TOKJ" --stdin-jsonl <"$OUT/lre_prompts.jsonl" >"$OUT/ids_cli.txt"
same=$(paste -d'|' "$OUT/ids_moeprobe.txt" "$OUT/ids_hf.txt" | awk -F'|' '$1 == $2' | wc -l)
cli_same=$(cmp -s "$OUT/ids_cli.txt" "$OUT/ids_moeprobe.txt" && echo yes || echo no)
printf 'ROW\ttokenizer\tidentical ids, %s LRE prompts\t%s/%s\t-\t-\tCLI output equals library: %s\n' \
  "$NP" "$same" "$NP" "$cli_same"
[ "$same" -eq "$NP" ] && [ "$NP" -eq 906 ] && [ "$cli_same" = yes ]
