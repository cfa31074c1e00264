#!/usr/bin/env bash
# The bench programs (bench/build_tools.sh) build against this build's library and keep their
# contracts: forward_bench --products records every weight product of the timed pass (row
# counts checked against the model: 4 attention projections and top-k expert rows per token and
# layer), product_replay replays that list on moeprobe's kernels and OpenBLAS (call count and
# FLOPs equal the file's) and refuses bad lists naming the file, line and value.
set -u
B=$MOEPROBE_BIN; S=$MOEPROBE_SHARED; ROOT=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/bench_tools
mkdir -p "$T"
cd "$ROOT" || exit 1
BUILD=build; FLAGS=()
[ "$(basename "$(dirname "$B")")" = bin-debug ] && { BUILD=build-debug; FLAGS=(-fsanitize=address,undefined); }
if ! bench/build_tools.sh "$T" "$BUILD" "${FLAGS[@]}" >"$T/build.log" 2>&1; then
  echo "FAIL bench_tools/build: $(tail -3 "$T/build.log" | tr '\n' '|')"; exit 0
fi
echo "PASS bench_tools/build"
M=$S/fixtures/models/olmoe
cfg() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" "$M/config.json" | head -1; }
H=$(cfg hidden_size); I=$(cfg intermediate_size); L=$(cfg num_hidden_layers); K=$(cfg num_experts_per_tok)

# the recorded products of a capture pass
if ! "$T/forward_bench" run --model "$M" --lre "$ROOT/data/lre" --max-samples 3 \
     --products "$T/p.txt" >"$T/run.out" 2>"$T/run.err"; then
  echo "FAIL bench_tools/record: $(tail -3 "$T/run.err" | tr '\n' '|')"; exit 0
fi
tok=$(sed -n 's/^tokens=//p' "$T/run.out")
got=$(awk -v H="$H" -v I="$I" '
  NF != 4 || $4 != "BF16" { bad++ }
  $2 == H && $3 == H { attn += $1 }       # q, k, v, o (4 kv heads = 4 heads here)
  $2 == I && $3 == H { gateup += $1 }     # expert gate and up
  $2 == H && $3 == I { down += $1 }       # expert down
  END { printf "%d %d %d %d", bad, attn, gateup, down }' "$T/p.txt")
want="0 $((4 * L * tok)) $((2 * L * K * tok)) $((L * K * tok))"
[ -n "$tok" ] && [ "$got" = "$want" ] && echo "PASS bench_tools/record_rows" ||
  echo "FAIL bench_tools/record_rows: bad lines, attention rows, gate+up rows, down rows = $got, expected $want ($tok tokens, $L layers, top-$K)"

# the replay: every call, the file's FLOPs, both sides timed
if MOEPROBE_ISA=generic "$T/product_replay" "$T/p.txt" 1 >"$T/rep.out" 2>"$T/rep.err"; then
  calls=$(sed -n 's/^calls=//p' "$T/rep.out"); gf=$(sed -n 's/^gflop=//p' "$T/rep.out")
  wantgf=$(awk '{ f += 2 * $1 * $2 * $3 } END { printf "%.1f", f / 1e9 }' "$T/p.txt")
  ok=$(awk -v a="$(sed -n 's/^moeprobe_gflops=//p' "$T/rep.out")" -v b="$(sed -n 's/^sgemm_gflops=//p' "$T/rep.out")" 'BEGIN { print (a > 0 && b > 0) }')
  [ "$calls" = "$(wc -l <"$T/p.txt")" ] && [ "$gf" = "$wantgf" ] && [ "$ok" = 1 ] &&
    grep -qx 'kernel_isa=generic' "$T/rep.out" && echo "PASS bench_tools/replay" ||
    echo "FAIL bench_tools/replay: $(tr '\n' ' ' <"$T/rep.out") (expected calls $(wc -l <"$T/p.txt"), gflop $wantgf, path generic)"
else
  echo "FAIL bench_tools/replay: exit $?: $(tail -3 "$T/rep.err" | tr '\n' '|')"
fi

# bad lists and bad use: refused with the file, line and value
bad() {  # NAME EXPECTED_STATUS MESSAGE_REGEX COMMAND...
  local name=$1 want=$2 re=$3; shift 3
  "$@" >"$T/bad.out" 2>"$T/bad.err"; local rc=$?
  [ "$rc" = "$want" ] && grep -Eq "$re" "$T/bad.err" && echo "PASS bench_tools/bad/$name" ||
    echo "FAIL bench_tools/bad/$name: status $rc (expected $want), stderr: $(head -2 "$T/bad.err" | tr '\n' '|')"
}
printf '8 64 128 BF16\n0 64 128 BF16\n' >"$T/zero.txt"
bad zero_rows 1 "zero.txt line 2: \"0 64 128 BF16\" is not T N K DTYPE \(T and N in 1\.\.2\^24" "$T/product_replay" "$T/zero.txt" 1
printf '8 64 128 Q8\n' >"$T/dtype.txt"
bad dtype 1 "dtype.txt line 1: .*Q8.*BF16/F16/F32" "$T/product_replay" "$T/dtype.txt" 1
printf '8 64 128 BF16\n8 64\n' >"$T/short.txt"
bad short_line 1 "short.txt line 2: \"8 64\" is not T N K DTYPE" "$T/product_replay" "$T/short.txt" 1
printf '8 64 128 BF16 9\n' >"$T/extra.txt"
bad extra_field 1 "extra.txt line 1: \"8 64 128 BF16 9\" is not" "$T/product_replay" "$T/extra.txt" 1
: >"$T/empty.txt"
bad empty 1 "empty.txt: no products" "$T/product_replay" "$T/empty.txt" 1
bad missing 1 "cannot open .*nothere.txt" "$T/product_replay" "$T/nothere.txt" 1
bad products_mpi 2 "products records one rank" "$T/forward_bench" run --mpi --model "$M" \
  --lre "$ROOT/data/lre" --products "$T/x.txt"
exit 0
