#!/usr/bin/env bash
# Forward pass at full scale (issues 4, 8 and 12): speed of the capture pass against the FLOP
# ceiling of each kernel path and against Hugging Face transformers, memory per rank, expert
# parallelism, neuron attribution, and the time of a full 12-relation sweep per model shape.
# Random-weight checkpoints of the real shapes (moeprobe make-model, bf16) are written to
# $BENCH_WORK and deleted at the end. See docs/performance.md for what each row means.
#
# Fairness of the comparison with Hugging Face (issue 12 point 5): both sides run the same
# token ids in the same batches on the same cores, each best of BENCH_REPEATS runs, the runs
# interleaved (moeprobe, then each HF form, N times) so that a busy spell of a shared machine
# hits both; both are timed over the whole pass (every forward call and the capture taken out
# of it; loading and tokenizing excluded); the headline ratio is HF float32 with
# logits_to_keep=1 (moeprobe's precision, HF's fastest form); one HF row runs length-bucketed
# batches without padding. Every moeprobe kernel path the CPU runs (`moeprobe --version`) gets
# its own rows, its own FLOP ceiling (OpenBLAS sgemm with OPENBLAS_CORETYPE=Haswell for avx2 on
# a CPU with AVX-512) and its own HF baseline (torch, MKL and oneDNN capped at AVX2 the same
# way); the path column names the path that ran, as forward_bench reports it (kernel_isa).
#
# Environment:
#   BENCH_FULL=N       full-scale parts: 0 none; 1 (default) OLMoE-1B-7B at all 16 layers (14 GB);
#                      2 also Qwen1.5-MoE at 12 of 24 layers (15 GB; ~3-4 more minutes on 2
#                      cores, left out of the default to keep make bench near 15 minutes)
#   BENCH_HF=0         skip the Hugging Face baseline (no .bench-venv, no torch download)
#   BENCH_REPEATS=N    best of N for every pass compared with HF, moeprobe and HF alike, and
#                      the eval-pass rows (default 2)
#   BENCH_OTHER_REPEATS  best of N for the passes not compared with HF: 2 and 3 ranks, the
#                      full-scale checkpoints (default 1, to keep make bench near 15 minutes)
#   BENCH_CMP_SAMPLES  prompts per relation of the OLMoE-shaped comparison with HF, every path
#                      (default 48: 440 prompts; 0 = all 906)
#   BENCH_MIX_SAMPLES  the same for the Mixtral-shaped comparison (default 24: 283 prompts)
#   BENCH_SAMPLES=N    prompts per relation in the full-scale passes (default 24: 283 prompts,
#                      2858 OLMo tokens; 0 = all 906)
#   BENCH_PATHS        kernel paths of the OLMoE-shaped comparison (default: every path the CPU
#                      runs but generic); the Mixtral-shaped and full-scale rows run the best
#   BENCH_GENERIC=0    skip the portable C path's row (default 1: 1 prompt per relation, one
#                      run: it is a fallback at a few GFLOP/s)
#   BENCH_HF_VARIANTS  HF forms on the best path (default "f32_last f32_last_len bf16_last";
#                      f32_all adds the plain call, logits at every position). f32_last runs on
#                      every path of BENCH_PATHS: it is the headline.
#   BENCH_EVAL_MODES   forward_bench modes for the evaluation-pass rows (default "eval")
#   BENCH_HF_OMP_WAIT  OMP_WAIT_POLICY of the HF runs (default: PASSIVE when the load average
#                      at the start exceeds half the cores, else torch's default). torch's
#                      OpenMP threads spin between ops; on a busy machine a descheduled spinning
#                      thread makes HF 10-30x slower (moeprobe's threads sleep after ~100 us),
#                      which would flatter moeprobe. The value used is in each HF row's notes.
#   BENCH_WORK=DIR     where the checkpoints go (default ${TMPDIR:-/tmp}/moeprobe-bench-models)
#   BENCH_KEEP=1       keep the checkpoints (reruns then skip make-model)
#   BENCH_BUILD=DIR    the build folder holding libmoeprobe.a (default build)
set -u
ROOT=${MOEPROBE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT"
BIN=${MOEPROBE_BIN:-$ROOT/bin/moeprobe}
SHARED=${MOEPROBE_SHARED:-$ROOT/../shared}
OUT=${BENCH_OUT:-$ROOT/bench/out}
BUILD=${BENCH_BUILD:-build}
FULL=${BENCH_FULL:-1}
HF=${BENCH_HF:-1}
SAMPLES=${BENCH_SAMPLES:-24}
CMP_SAMPLES=${BENCH_CMP_SAMPLES:-48}
MIX_SAMPLES=${BENCH_MIX_SAMPLES:-24}
REPEATS=${BENCH_REPEATS:-2}
OTHER_REPEATS=${BENCH_OTHER_REPEATS:-1}
GENERIC=${BENCH_GENERIC:-1}
HF_VARIANTS=${BENCH_HF_VARIANTS:-f32_last f32_last_len bf16_last}
if [ -z "${BENCH_HF_OMP_WAIT+x}" ]; then
  BENCH_HF_OMP_WAIT=$(awk -v n="$(nproc)" '{ if ($1 > n / 2) print "PASSIVE" }' /proc/loadavg)
fi
EVAL_MODES=${BENCH_EVAL_MODES:-eval}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/moeprobe-bench-models}
CFG=$SHARED/configs-real
TOK=$SHARED/fixtures/tokenizer
LRE=$ROOT/data/lre
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT" "$WORK"
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
FB=$OUT/forward_bench
LOG=$OUT/bench_forward.detail
: >"$LOG"

KB=$OUT/kern_bench
PR=$OUT/product_replay
bench/build_tools.sh "$OUT" "$BUILD" || exit 1
# the kernel paths this CPU runs, best first (pipeline/ops/kern.h)
ISAS=$("$BIN" --version | sed -n 's/^kernel paths: \([a-z0-9 ]*\).*/\1/p')
BEST=${ISAS%% *}
PATHS=${BENCH_PATHS:-$(for p in $ISAS; do [ "$p" = generic ] || printf '%s ' "$p"; done)}
CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)

# ---- helpers -------------------------------------------------------------------------------
get() { sed -n "s/^$2=//p" "$1" | head -1; }                    # get FILE KEY
rget() { sed -n "s/^rank_$2=.*$3:\([^ ]*\).*/\1/p" "$1"; }       # rget FILE RANK FIELD
calc() { awk "BEGIN{print $*}"; }
fmt() { awk "BEGIN{printf \"$1\", $2}"; }
gb() { awk "BEGIN{printf \"%.2f GB\", $1 / 1e9}"; }
ROWS=$OUT/bench_forward.rows; : >"$ROWS"
# row PATH WHAT MOEPROBE BASELINE RATIO NOTES: PATH is the kernel path that ran ("-": none)
row() { printf 'ROW\tforward\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }
load() { cut -d' ' -f1 /proc/loadavg; }
note() { echo "$*" >&2; echo "# $*" >>"$LOG"; }
T_START=$(date +%s)
stamp() { echo "# [$(($(date +%s) - T_START)) s] $*" >>"$LOG"; echo "[$(($(date +%s) - T_START)) s] $*" >&2; }

# The FLOP ceiling of a kernel path: OpenBLAS sgemm at the matching instruction set, named with
# OPENBLAS_CORETYPE: SkylakeX (its AVX-512 sgemm kernels) for avx512, Haswell (AVX2 + FMA, what
# an AVX2 node runs) for avx2; neon and generic take OpenBLAS's own choice. Named because
# OpenBLAS's own choice can be far off: Debian's 0.3.21 takes a Sapphire Rapids for a Prescott
# (SSE3) and reaches a sixth of the machine's sgemm rate. Several measurements go to
# peaks.PATH.txt through the run; the best counts (a shared machine disturbs some).
coretype() {
  case $1 in
    avx512) echo SkylakeX ;;
    avx2) echo Haswell ;;
  esac
}
peak() {  # PATH
  local ct f=$OUT/peaks.$1.txt
  ct=$(coretype "$1")
  if [ -n "$ct" ]; then
    OPENBLAS_CORETYPE=$ct "$FB" peak 6 >"$OUT/peak.out" 2>>"$LOG"
  else
    "$FB" peak 6 >"$OUT/peak.out" 2>>"$LOG"
  fi
  { echo "## peak path $1 (load $(load))"; cat "$OUT/peak.out"; } >>"$LOG"
  get "$OUT/peak.out" sgemm_peak_gflops >>"$f"
  get "$OUT/peak.out" blas_core >"$OUT/peaks.$1.core"
}
PEAK_PATHS=$(echo "$BEST $PATHS" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
# PEAK_PATHS: the best path (every call) and the others (with "all": at the start and the end)
peaks() { local p; for p in $PEAK_PATHS; do [ "$p" = "$BEST" ] || [ "${1:-}" = all ] && peak "$p"; done; }
for p in $PEAK_PATHS; do : >"$OUT/peaks.$p.txt"; done
# fraction of a path's ceiling, filled in at the end from its best peak: tokens/s over
# peak / (2 x matmul parameters per token)
ceiling() { echo "@CEIL:$1:$(get "$2" matmul_params_per_token)@"; }     # PATH FILE
frac() { echo "@FRAC:$1:$(get "$2" tokens_per_s):$(get "$2" matmul_params_per_token)@"; }
pct_peak() { echo "@PCT:$1:$2@"; }                                      # PATH GFLOPS
peak_of() { echo "@PEAK:$1@"; }                                         # PATH

# make-model into $WORK/NAME unless it is there; skipped (return 1) when the disk is short.
mkmodel() {  # NAME CONFIG TOKENIZER LAYERS
  local d=$WORK/$1 need free
  [ -f "$d/config.json" ] && return 0
  need=$("$BIN" make-model --config "$2" --layers "$4" --dry-run | sed -n 's/.* \([0-9]*\) bytes$/\1/p')
  free=$(df -B1 --output=avail "$WORK" | tail -1)
  if [ "$free" -lt $((need + 2000000000)) ]; then
    note "skip $1: needs $need bytes, $free free in $WORK"
    return 1
  fi
  "$BIN" make-model --config "$2" --out "$d" --layers "$4" --tokenizer "$3" --quiet >>"$LOG" 2>&1 || return 1
  sync  # the kernel's writeback of the new files would otherwise run during the first timed pass
}
drop() { [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "${WORK:?}/$1"; }     # a checkpoint, unless BENCH_KEEP=1
ckpt_bytes() { du -cb "$WORK/$1"/*.safetensors | tail -1 | cut -f1; }

# keep OUT as the copy of the fastest of OUT.1 .. OUT.N (by tokens_per_s)
pick() {  # OUT
  local f best=0 tps
  rm -f "$1"
  for f in "$1".[0-9]*; do
    [ -s "$f" ] || continue
    tps=$(get "$f" tokens_per_s)
    [ -n "$tps" ] || continue
    if awk "BEGIN{exit !($tps > $best)}"; then best=$tps; cp "$f" "$1"; fi
  done
  [ -s "$1" ]
}
runs_of() { ls "$1".[0-9]* 2>/dev/null | wc -l; }   # how many runs OUT's best was picked from

# one moeprobe pass (forward_bench run) into OUT.I; MOEPROBE_ISA=PATH unless PATH is "auto"
mp_once() {  # OUT I NAME RANKS MODE PATH [extra args]
  local out=$1 i=$2 name=$3 np=$4 mode=$5 isa=$6 cmd
  shift 6
  if [ "$np" -gt 1 ]; then cmd=(mpirun --oversubscribe -np "$np" "$FB" run --mpi); else cmd=("$FB" run); fi
  [ "$isa" = auto ] && isa=""
  MOEPROBE_ISA=$isa "${cmd[@]}" --model "$WORK/$name" --lre "$LRE" --max-samples "$SAMPLES" \
    --mode "$mode" "$@" >"$out.$i" 2>>"$LOG" || { rm -f "$out.$i"; return 1; }
  { echo "## $name np=$np $mode MOEPROBE_ISA=${isa:-unset} run $i (load $(load))"; cat "$out.$i"; } >>"$LOG"
}
# best of REPEATS moeprobe passes into OUT
mp_run() {  # OUT NAME RANKS MODE PATH [extra args]
  local out=$1 i
  shift
  rm -f "$out" "$out".[0-9]*
  for i in $(seq "$REPEATS"); do mp_once "$out" "$i" "$@" || return 1; done
  pick "$out"
}

# One Hugging Face pass with the token ids moeprobe wrote, into OUT.I. HF is capped at the
# instruction set of PATH: for avx2, torch's kernels (ATEN_CPU_CAPABILITY), MKL's sgemm and
# oneDNN, as an AVX2 node would run them.
hf_once() {  # OUT I NAME DTYPE LOGITS BATCHING PATH
  local out=$1 i=$2 name=$3 dtype=$4 logits=$5 batching=$6 path=$7 caps=()
  [ "$path" = avx2 ] && caps=(ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)
  [ -n "$BENCH_HF_OMP_WAIT" ] && caps+=(OMP_WAIT_POLICY="$BENCH_HF_OMP_WAIT")
  env "${caps[@]}" "$PY" bench/hf_forward.py "$WORK/$name" "$OUT/$name.ids" 64 "$dtype" "$(nproc)" \
    "$logits" "$batching" >"$out.$i" 2>>"$LOG" || { rm -f "$out.$i"; return 1; }
  { echo "## HF $name $dtype logits=$logits batching=$batching path=$path run $i (load $(load))"; cat "$out.$i"; } >>"$LOG"
}
# HF holds float32 copies of all weights (~9 bytes per parameter at its peak, 4.5 in bf16): a
# form that would not fit in memory is skipped and says so
hf_fits() {  # NAME DTYPE PARAMS BYTES_PER_PARAM
  local need avail
  need=$(calc "$3 * $4")
  avail=$(awk '/MemAvailable/{print $2 * 1024}' /proc/meminfo)
  if awk "BEGIN{exit !($need > 0.8 * $avail)}"; then
    note "skip HF $2 on $1: needs ~$(gb "$need") of memory, $(gb "$avail") available"
    return 1
  fi
}
# HF form -> dtype logits batching bytes/param
hf_form() {
  case $1 in
    f32_all) echo "float32 all relation 9" ;;
    f32_last) echo "float32 last relation 9" ;;
    f32_last_len) echo "float32 last length 9" ;;
    bf16_last) echo "auto last relation 4.5" ;;
    *) return 1 ;;
  esac
}
hf_what() {
  case $1 in
    f32_all) echo "HF float32, plain call (logits at every position)" ;;
    f32_last) echo "HEADLINE: HF float32, logits_to_keep=1 (like for like)" ;;
    f32_last_len) echo "HF float32, logits_to_keep=1, length-bucketed batches without padding" ;;
    bf16_last) echo "HF bf16 (its default dtype; computes in bf16), logits_to_keep=1" ;;
  esac
}
hf_note() {  # FILE PATH
  local h=$1
  echo "HF: transformers $(get "$h" hf_version), torch $(get "$h" torch_version), torch kernels $(get "$h" torch_isa)$([ "$(get "$h" isa_caps)" != - ] && echo " (capped: $(get "$h" isa_caps))"), $(get "$h" threads) threads (OMP_WAIT_POLICY $(get "$h" omp_wait_policy)), $(get "$h" batches) batches ($(get "$h" batching)), $(get "$h" pad_tokens) pad positions computed, peak RSS $(gb "$(get "$h" peak_rss)"), eager attention, output_hidden_states + output_router_logits"
}
mp_note() {  # FILE: what ran on the moeprobe side
  local f=$1
  echo "moeprobe: kernel path $(get "$f" kernel_isa) (MOEPROBE_ISA=$(get "$f" isa_env)), $(get "$f" threads) threads, $(get "$f" prompts) LRE prompts, $(get "$f" tokens) tokens, batches of <= $(get "$f" batch) per relation (packed, no padding), forward calls alone $(get "$f" forward_tokens_per_s) tok/s"
}

# moeprobe's capture pass against Hugging Face on one checkpoint, best of REPEATS on both sides,
# the runs interleaved: for each repeat, the capture pass on every path of PATHS, then every HF
# form (f32_last on every path, the others on the best path).
compare() {  # NAME LABEL SAMPLES PATHS HF_FORMS [extra moeprobe args]
  local M=$1 label=$2 ns=$3 paths=$4 forms=$5 F=$OUT/$1 P i p v T H h r
  shift 5
  local hfruns="" extra=("$@")
  for p in $paths; do rm -f "$F.cap-$p" "$F.cap-$p".[0-9]* "$F.hf_f32_last-$p" "$F.hf_f32_last-$p".[0-9]*; done
  for v in $forms; do rm -f "$F.hf_$v-$BEST" "$F.hf_$v-$BEST".[0-9]*; done
  for i in $(seq "$REPEATS"); do
    for p in $paths; do
      # RECORD_PRODUCTS=FILE: the first pass writes its weight products there (product_replay)
      local rec=()
      [ "$i" = 1 ] && [ "$p" = "${paths%% *}" ] && [ -n "${RECORD_PRODUCTS:-}" ] &&
        rec=(--products "$RECORD_PRODUCTS")
      SAMPLES=$ns mp_once "$F.cap-$p" "$i" "$M" 1 capture "$p" --ids "$OUT/$M.ids" "${rec[@]}" "${extra[@]}" ||
        note "moeprobe failed on $M, path $p, run $i"
    done
    [ -s "$OUT/$M.ids" ] || { note "no token ids for HF on $M"; return 1; }
    if [ "$i" = 1 ]; then  # which HF forms fit in memory
      P=$(for p in $paths; do get "$F.cap-$p.1" params; done | head -1)
      [ "$HF" = 1 ] && [ -n "$P" ] && for v in $forms; do
        hf_form "$v" >/dev/null || { note "unknown HF form '$v' in BENCH_HF_VARIANTS"; continue; }
        set -- $(hf_form "$v")
        hf_fits "$M" "$v" "$P" "$4" || continue
        if [ "$v" = f32_last ]; then
          for p in $paths; do hfruns="$hfruns $v:$p"; done
        else
          hfruns="$hfruns $v:$BEST"
        fi
      done
    fi
    for r in $hfruns; do
      v=${r%%:*} p=${r#*:}
      set -- $(hf_form "$v")
      hf_once "$F.hf_$v-$p" "$i" "$M" "$1" "$2" "$3" "$p" || note "HF $v failed on $M, path $p, run $i"
    done
  done
  for p in $paths; do
    pick "$F.cap-$p" || continue
    T=$(get "$F.cap-$p" tokens_per_s)
    row "$(get "$F.cap-$p" kernel_isa)" "$label, 1 rank: capture pass tokens/s (baseline = the path's FLOP ceiling)" \
      "$T" "$(ceiling "$p" "$F.cap-$p")" "$(frac "$p" "$F.cap-$p")" \
      "ratio = fraction of OpenBLAS sgemm's peak on this path ($(peak_of "$p") GFLOP/s, core $(cat "$OUT/peaks.$p.core" 2>/dev/null)) at 2 x $(fmt %.0fM "$(get "$F.cap-$p" matmul_params_per_token) / 1e6") matmul params/token; best of $(runs_of "$F.cap-$p"); whole pass incl. capture extraction; $(mp_note "$F.cap-$p"); peak RSS $(gb "$(get "$F.cap-$p" peak_rss_max)")"
  done
  for r in $hfruns; do
    v=${r%%:*} p=${r#*:}
    h=$F.hf_$v-$p
    pick "$h" && [ -s "$F.cap-$p" ] || continue
    T=$(get "$F.cap-$p" tokens_per_s); H=$(get "$h" tokens_per_s)
    row "$(get "$F.cap-$p" kernel_isa)" "$label, 1 rank: capture tokens/s vs $(hf_what "$v")" "$T" "$H" "$(fmt %.2fx "$T / $H")" \
      "both best of $(runs_of "$F.cap-$p") / $(runs_of "$h") runs, interleaved; same ids, same cores, timed over the whole pass (forward calls + capture extraction); $(hf_note "$h")"
  done
}

# ---- the machine ---------------------------------------------------------------------------
LOAD0=$(load)
stamp "start: paths $ISAS (comparison paths: $PATHS)"
"$FB" blas-core >"$OUT/peaks.default.core" 2>>"$LOG"
peaks all
# the weight-product kernels alone, per kernel path, against that path's sgemm ceiling
for isa in $ISAS; do
  secs=1
  [ "$isa" = generic ] && { [ "$GENERIC" = 1 ] || continue; secs=0.3; }
  pk=$isa; [ "$isa" = generic ] && pk=$BEST
  MOEPROBE_ISA=$isa "$KB" "$secs" | tee -a "$LOG" | while IFS= read -r l; do
    shape=$(echo "$l" | sed -n 's/.*shape="\([^"]*\)".*/\1/p'); g=$(echo "$l" | sed -n 's/.*gflops=//p')
    # kern_bench's bf16-products rows name their own path ("..., bf16 products (avx512bf16)")
    bp=$(echo "$shape" | sed -n 's/.*bf16 products (\([a-z0-9_]*\)).*/\1/p')
    [ -n "$g" ] && row "${bp:-$isa}" "kernel alone: $shape, GFLOP/s (baseline = the path's sgemm ceiling)" "$g" "$(peak_of "$pk")" "$(pct_peak "$pk" "$g")" \
      "baseline = OpenBLAS sgemm peak (float32) on the same machine, core $(cat "$OUT/peaks.$pk.core" 2>/dev/null)$([ "$isa" = generic ] && echo " (the best path's: portable C has no BLAS counterpart)"); weights bf16; $(echo "$l" | sed -n 's/.*threads=\([0-9]*\).*/\1/p') thread(s); MOEPROBE_ISA=$isa; $CPU"
  done
done
stamp "kernels done"
PY=""
if [ "$HF" = 1 ]; then
  PY=$(bench/venv.sh torch transformers h5py) || { note "bench/venv.sh failed: no HF baseline"; HF=0; }
fi
# What each side computes: error against the float64 references of the fixtures (moeprobe from
# its golden test, HF in its default bf16 and in float32).
if [ "$HF" = 1 ]; then
  GOLD=$("$(dirname "$BIN")/tests/test_forward_golden" 2>/dev/null | grep '^WORST')
  for m in olmoe mixtral; do
    "$PY" bench/hf_accuracy.py "$SHARED/fixtures/models/$m" "$SHARED/fixtures/refs/$m.h5" \
      >"$OUT/acc_$m.txt" 2>>"$LOG" || continue
    mpe=$(echo "$GOLD" | awk -v m="$m" '$2 == m' | tr ' ' '\n' | sed -n 's/^logits_last=//p')
    row "$BEST" "tiny $m fixture: logits error vs float64 HF refs (max rel, 26 prompts)" "${mpe:--}" \
      "$(get "$OUT/acc_$m.txt" bf16_logits_rel)" - \
      "baseline = HF default dtype (bf16); HF float32: $(get "$OUT/acc_$m.txt" f32_logits_rel); the project tolerance is 1e-4, so the bf16 baseline does not compute the same thing; every kernel path gives moeprobe's same bits"
  done
fi
stamp "accuracy done"

ranks_note() {  # FILE NP: per-rank RSS and expert bytes
  local f=$1 np=$2 r s=""
  for r in $(seq 0 $((np - 1))); do
    s="$s; rank $r: peak RSS $(gb "$(rget "$f" "$r" peak_rss)"), experts $(gb "$(rget "$f" "$r" expert_bytes)")"
  done
  echo "${s#; }"
}

# ---- sweep estimate ------------------------------------------------------------------------
# Seconds for 906 prompts x 12 relations at full depth on one rank: the capture pass, 14 extra
# evaluation passes per relation (block ~10, heads_experts ~4) and attribution per sample.
# Per-token time = (forward - layers) + layers * L_full / L_run, from the runs' timings.
sweep() {  # CAPTURE_FILE EVAL_FILE ATTR_S_PER_SAMPLE L_FULL TOKENS_PER_PROMPT_FULL_SET
  local c=$1 e=$2 a=$3 lf=$4 tpp=$5
  awk -v cf="$(get "$c" forward_s)" -v cl="$(get "$c" layers_s)" -v ct="$(get "$c" tokens)" \
      -v ef="$(get "$e" forward_s)" -v el="$(get "$e" layers_s)" -v et="$(get "$e" tokens)" \
      -v L="$(get "$c" layers)" -v lf="$lf" -v a="$a" -v tpp="$tpp" 'BEGIN{
    cap = ((cf - cl) + cl * lf / L) / ct; ev = ((ef - el) + el * lf / L) / et;
    tok = 906 * tpp; printf "%.0f", tok * cap + 14 * tok * ev + 906 * a }'
}
hms() { awk -v s="$1" 'BEGIN{printf "%dh%02dm", s / 3600, (s % 3600) / 60}'; }

peaks
# ---- OLMoE-shaped, 4 of 16 layers: moeprobe on every path against Hugging Face, ranks 1-3 ----
if mkmodel olmoe-l4 "$CFG/olmoe-1b-7b-0924/config.json" "$TOK/olmo.tokenizer.json" 4; then
  M=olmoe-l4; F=$OUT/$M; L="olmoe-1b-7b shape, 4/16 layers"
  stamp "$M: comparison with HF"
  RECORD_PRODUCTS=$F.products compare $M "$L" "$CMP_SAMPLES" "$PATHS" "$HF_VARIANTS"
  stamp "$M: comparison done"
  # The pass's own weight products replayed (bench/product_replay.c): the kernels against the
  # ceiling's library on the same shapes, weights cold, OpenBLAS with float32 weights. The
  # FLOP ceiling is sgemm on large squares; this is what sgemm reaches on the pass's products.
  for p in $PATHS; do
    [ -s "$F.products" ] || break
    ct=$(coretype "$p")
    env ${ct:+OPENBLAS_CORETYPE=$ct} MOEPROBE_ISA="$p" "$PR" "$F.products" "$REPEATS" \
      >"$F.replay-$p" 2>>"$LOG" || { note "product_replay failed on path $p"; continue; }
    { echo "## product_replay path $p (load $(load))"; cat "$F.replay-$p"; } >>"$LOG"
    G=$(get "$F.replay-$p" moeprobe_gflops); S=$(get "$F.replay-$p" sgemm_gflops)
    KS=$(calc "$(get "$F.replay-$p" gflop) / $G")
    row "$(get "$F.replay-$p" kernel_isa)" "$L: the capture pass's $(get "$F.replay-$p" calls) weight products replayed, GFLOP/s (baseline = OpenBLAS sgemm on the same products, float32 weights)" \
      "$G" "$S" "$(fmt %.2fx "$G / $S")" \
      "moeprobe $(pct_peak "$p" "$G") and sgemm $(pct_peak "$p" "$S") of the path's sgemm peak ($(peak_of "$p") GFLOP/s); same (T, N, K) in call order, $(get "$F.replay-$p" shapes) shapes, weights cold (a pool of $(gb "$(get "$F.replay-$p" pool_bytes)") per side); moeprobe bf16 weights, OpenBLAS core $(get "$F.replay-$p" blas_core); best of $(get "$F.replay-$p" rounds) rounds each, alternating; the products alone take $(fmt %.1f "$KS") s of the pass's $(get "$F.cap-$p" forward_s 2>/dev/null) s forward time"
  done
  # the evaluation passes (no hooks: block / heads_experts), best path
  for mode in $EVAL_MODES; do
    SAMPLES=$CMP_SAMPLES mp_run "$F.$mode" $M 1 "$mode" "$BEST" || continue
    row "$(get "$F.$mode" kernel_isa)" "$L, 1 rank: $mode pass tokens/s (baseline = capture pass)" \
      "$(get "$F.$mode" tokens_per_s)" "$(get "$F.cap-$BEST" tokens_per_s)" \
      "$(fmt %.2fx "$(get "$F.$mode" tokens_per_s) / $(get "$F.cap-$BEST" tokens_per_s)")" \
      "$(frac "$BEST" "$F.$mode") of the path's FLOP ceiling; best of $(runs_of "$F.$mode"); $(mp_note "$F.$mode")"
  done
  # the paths against each other (same prompts, same bits)
  for p in $PATHS; do
    [ "$p" = "$BEST" ] || [ ! -s "$F.cap-$p" ] || [ ! -s "$F.cap-$BEST" ] && continue
    row "$p" "$L, 1 rank: capture tokens/s, path $p vs path $BEST" \
      "$(get "$F.cap-$p" tokens_per_s)" "$(get "$F.cap-$BEST" tokens_per_s)" \
      "$(fmt %.2fx "$(get "$F.cap-$p" tokens_per_s) / $(get "$F.cap-$BEST" tokens_per_s)")" \
      "baseline = MOEPROBE_ISA=$BEST, same prompts, the same bits (kern.h's summation order); best of $REPEATS each; $CPU"
  done
  # portable C: a fallback at a few GFLOP/s, so 1 prompt per relation and one run
  if [ "$GENERIC" = 1 ] && [[ " $ISAS " == *" generic "* ]]; then
    SAMPLES=1 REPEATS=1 mp_run "$F.cap-generic" $M 1 capture generic &&
      row "$(get "$F.cap-generic" kernel_isa)" "$L, 1 rank: capture pass tokens/s, portable C (baseline = the best path's FLOP ceiling)" \
        "$(get "$F.cap-generic" tokens_per_s)" "$(ceiling "$BEST" "$F.cap-generic")" "$(frac "$BEST" "$F.cap-generic")" \
        "1 prompt per relation, 1 run (the fallback of CPUs without a vector path: at a few GFLOP/s the full comparison would take an hour); $(mp_note "$F.cap-generic")"
  fi
  stamp "$M: paths done"
  for np in 2 3; do
    SAMPLES=$CMP_SAMPLES REPEATS=$OTHER_REPEATS mp_run "$F.np$np" $M "$np" capture "$BEST" || continue
    row "$(get "$F.np$np" kernel_isa)" "$L, $np ranks: capture tokens/s (baseline = 1 rank)" "$(get "$F.np$np" tokens_per_s)" \
      "$(get "$F.cap-$BEST" tokens_per_s)" "$(fmt %.2fx "$(get "$F.np$np" tokens_per_s) / $(get "$F.cap-$BEST" tokens_per_s)")" \
      "baseline = 1 rank, same prompts; best of $(runs_of "$F.np$np"); the ranks share the same $(nproc) cores (a rank per core instead of one rank on all), so this shows the cost of the exchange, not a speed-up; all-to-all $(fmt %.1f%% "100 * $(get "$F.np$np" alltoall_share)") of forward time (transfers and waiting for the slower rank); $(get "$F.np$np" threads) thread(s)/rank; $(ranks_note "$F.np$np" "$np")"
  done
  # neuron attribution: screening against brute force on the same sample
  "$FB" run --model "$WORK/$M" --lre "$LRE" --max-samples 2 --attr-samples 1 --brute 1 >"$F.brute" 2>>"$LOG"
  cat "$F.brute" >>"$LOG"
  A=$(get "$F.brute" attr_s_per_sample); B=$(get "$F.brute" brute_s_per_sample)
  [ -n "$B" ] && row "$(get "$F.brute" kernel_isa)" "$L: top-100 neurons, s/sample, screened vs brute force" \
    "$A" "$B" "$(fmt %.4fx "$A / $B")" \
    "exact scorings $(get "$F.brute" attr_exact_per_sample) of $(get "$F.brute" attr_neurons_per_sample) neurons; same top-100: $([ "$(get "$F.brute" brute_mismatch)" = 0 ] && echo yes || echo NO); both include all layer/head/expert gains; 1 run"
  drop "$M"
  stamp "$M done"
fi

peaks
# ---- Mixtral-shaped, 1 of 32 layers: moeprobe (best path) against Hugging Face --------------
if mkmodel mixtral-l1 "$CFG/mixtral-8x7b-v0.1/config.json" "$TOK/mistral.tokenizer.json" 1; then
  M=mixtral-l1; F=$OUT/$M
  stamp "$M: comparison with HF"
  compare $M "mixtral-8x7b shape, 1/32 layers" "$MIX_SAMPLES" "$BEST" "$(for v in $HF_VARIANTS; do [ "$v" = f32_last_len ] || printf '%s ' "$v"; done)" --attr-samples 4
  SAMPLES=$MIX_SAMPLES REPEATS=1 mp_run "$F.eval" $M 1 eval "$BEST"
  MIX_ATTR=$(calc "0$(get "$F.cap-$BEST" attr_s_per_sample) * 32")
  S=$(sweep "$F.cap-$BEST" "$F.eval" "$MIX_ATTR" 32 "$(get "$F.cap-$BEST" sweep_tokens_per_prompt)")
  row "$BEST" "mixtral-8x7b shape (32 layers, 93 GB): full 12-relation sweep estimate" "$(hms "$S")" - - \
    "906 prompts, 1 rank's compute extrapolated from 1 layer: capture + 14 eval passes/relation + attribution $(fmt %.1f "$MIX_ATTR") s/sample (1-layer figure x 32); memory: 8 nodes of 24 GiB (a rank with 1 of the 8 experts holds 11.3 GB of experts + 3.2 GB replicated; 2 experts per rank would need 25.7 GB)"
  drop "$M"
  stamp "$M done"
fi

peaks
# ---- full scale: OLMoE-1B-7B-shaped, all 16 layers (14 GB) ----------------------------------
if [ "$FULL" -ge 1 ] && stamp "olmoe-full" && mkmodel olmoe-full "$CFG/olmoe-1b-7b-0924/config.json" "$TOK/olmo.tokenizer.json" 16; then
  M=olmoe-full; F=$OUT/$M
  CK=$(ckpt_bytes $M)
  REPEATS=$OTHER_REPEATS mp_run "$F.cap" $M 1 capture "$BEST" --attr-samples 8
  REPEATS=1 mp_run "$F.eval" $M 1 eval "$BEST"
  T=$(get "$F.cap" tokens_per_s); PR=$(get "$F.cap" peak_rss_max)
  row "$(get "$F.cap" kernel_isa)" "olmoe-1b-7b shape, 16 layers (full), 1 rank: capture tokens/s (baseline = the path's FLOP ceiling)" \
    "$T" "$(ceiling "$BEST" "$F.cap")" "$(frac "$BEST" "$F.cap")" \
    "best of $(runs_of "$F.cap"); eval pass $(get "$F.eval" tokens_per_s) tok/s (1 run); $(mp_note "$F.cap")"
  row "$BEST" "olmoe-1b-7b shape, 16 layers, 1 rank: peak RSS" "$(gb "$PR")" "$(gb "$CK")" "$(fmt %.3fx "$PR / $CK")" \
    "baseline = checkpoint bytes (bf16, memory-mapped, never converted); experts $(gb "$(get "$F.cap" expert_bytes_total)"); bound 1.15x + activations"
  A=$(get "$F.cap" attr_s_per_sample)
  row "$BEST" "olmoe-1b-7b shape, 16 layers: attribution s/sample (top-100 neurons, screened)" "$A" \
    "$(calc "$(get "$OUT/olmoe-l4.brute" brute_s_per_sample 2>/dev/null || echo 0) * 4")" - \
    "baseline = brute force, 4-layer figure x 4 (each neuron is one exact W_U pass); exact scorings $(get "$F.cap" attr_exact_per_sample) of $(get "$F.cap" attr_neurons_per_sample) neurons; $(get "$F.cap" attr_samples) samples"
  REPEATS=$OTHER_REPEATS mp_run "$F.np2" $M 2 capture "$BEST"
  T2=$(get "$F.np2" tokens_per_s)
  row "$BEST" "olmoe-1b-7b shape, 16 layers, 2 ranks: capture tokens/s" "$T2" "$T" "$(fmt %.2fx "$T2 / $T")" \
    "baseline = 1 rank on the same cores; all-to-all $(fmt %.1f%% "100 * $(get "$F.np2" alltoall_share)"); $(ranks_note "$F.np2" 2)"
  S=$(sweep "$F.cap" "$F.eval" "$A" 16 "$(get "$F.cap" sweep_tokens_per_prompt)")
  row "$BEST" "olmoe-1b-7b shape (16 layers, 14 GB): full 12-relation sweep estimate" "$(hms "$S")" - - \
    "906 prompts x $(get "$F.cap" sweep_tokens_per_prompt) tokens, 1 rank: capture + 14 eval passes/relation at the measured rates + attribution $A s/sample"
  drop "$M"
fi

# ---- full scale: Qwen1.5-MoE-A2.7B-shaped, 12 of 24 layers (15 GB), and where 24 fit --------
if [ "$FULL" -ge 2 ] && stamp "qwen-l12" && mkmodel qwen-l12 "$CFG/qwen1.5-moe-a2.7b/config.json" "$TOK/qwen.tokenizer.json" 12; then
  M=qwen-l12; F=$OUT/$M
  CK=$(ckpt_bytes $M)
  REPEATS=$OTHER_REPEATS mp_run "$F.cap" $M 1 capture "$BEST" --attr-samples 4
  REPEATS=1 mp_run "$F.eval" $M 1 eval "$BEST"
  REPEATS=$OTHER_REPEATS mp_run "$F.np2" $M 2 capture "$BEST"
  T=$(get "$F.cap" tokens_per_s)
  row "$(get "$F.cap" kernel_isa)" "qwen1.5-moe shape, 12/24 layers, 1 rank: capture tokens/s (baseline = the path's FLOP ceiling)" \
    "$T" "$(ceiling "$BEST" "$F.cap")" "$(frac "$BEST" "$F.cap")" \
    "best of $(runs_of "$F.cap"); peak RSS $(gb "$(get "$F.cap" peak_rss_max)") for a $(gb "$CK") checkpoint; $(mp_note "$F.cap")"
  row "$BEST" "qwen1.5-moe shape, 12/24 layers, 2 ranks: capture tokens/s" "$(get "$F.np2" tokens_per_s)" "$T" \
    "$(fmt %.2fx "$(get "$F.np2" tokens_per_s) / $T")" \
    "baseline = 1 rank on the same cores; all-to-all $(fmt %.1f%% "100 * $(get "$F.np2" alltoall_share)"); $(ranks_note "$F.np2" 2)"
  # 24 layers: per rank, the 12 measured layers plus 12 more: their replicated weights
  # (attention, shared expert, router, norms: checkpoint - experts - embeddings/lm_head) and their
  # experts / N. Pages of a memory-mapped file are shared by the ranks of one node, so a node
  # needs every page any of its ranks touches.
  EX=$(get "$F.cap" expert_bytes_total)
  NONLAYER=$(calc "2 * 151936 * 2048 * 2")
  FULLB=$("$BIN" make-model --config "$CFG/qwen1.5-moe-a2.7b/config.json" --dry-run | sed -n 's/.* \([0-9]*\) bytes$/\1/p')
  for np in 1 2; do
    if [ "$np" = 1 ]; then R=$(get "$F.cap" peak_rss_max); else R=$(rget "$F.np2" 0 peak_rss); fi
    EST=$(calc "$R + ($CK - $EX - $NONLAYER) + $EX / $np")
    if [ "$np" = 1 ]; then
      why="1 rank: all 24 layers resident; above 24 GiB, so the page cache thrashes (reads the checkpoint from disk every batch)"
    else
      why="per rank with 2 ranks: fits a 24 GiB node with 1 rank per node; 2 ranks on ONE node share its page cache and together touch all $(gb "$FULLB") > 24 GiB, so 2 nodes is the minimum"
    fi
    row "$BEST" "qwen1.5-moe shape, 24 layers (full, $(gb "$FULLB")), $np rank(s): RSS per rank (estimate)" \
      "$(gb "$EST")" "24 GiB" - "$why; measured at 12 layers: $(gb "$R") per rank"
  done
  QA=$(calc "$(get "$F.cap" attr_s_per_sample) * 2")
  S=$(sweep "$F.cap" "$F.eval" "$QA" 24 "$(get "$F.cap" sweep_tokens_per_prompt)")
  row "$BEST" "qwen1.5-moe shape (24 layers, 29 GB): full 12-relation sweep estimate" "$(hms "$S")" - - \
    "906 prompts, compute of 1 rank extrapolated from 12 layers; attribution $(fmt %.1f "$QA") s/sample (12-layer figure x 2); run on 2 nodes x 1 rank"
  drop "$M"
fi

# ---- the table -----------------------------------------------------------------------------
peaks all
stamp "end"
PK=""
for p in $PEAK_PATHS; do
  pk=$(sort -g "$OUT/peaks.$p.txt" | tail -1)
  [ -n "$pk" ] || continue
  PK="$PK $p=$pk"
  printf 'ROW\tforward\t%s\t%s\t%s\t-\t-\t%s\n' "$p" "machine: OpenBLAS sgemm peak (GFLOP/s), the FLOP ceiling of path $p" "$pk" \
    "OpenBLAS core $(cat "$OUT/peaks.$p.core")$([ -n "$(coretype "$p")" ] && echo " (OPENBLAS_CORETYPE=$(coretype "$p"); OpenBLAS's own choice here: $(cat "$OUT/peaks.default.core" 2>/dev/null))"); $CPU, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; best of $(wc -l <"$OUT/peaks.$p.txt") measurements (2048^3, 4096x4096x2048; $(tr '\n' ' ' <"$OUT/peaks.$p.txt")); load avg $LOAD0 at start, $(load) at end; bench wall $(($(date +%s) - T_START)) s"
done
# placeholders: @CEIL:PATH:MPT@ (tokens/s at the ceiling), @FRAC:PATH:TPS:MPT@ (fraction of
# it), @PEAK:PATH@, @PCT:PATH:GFLOPS@ (a rate against the peak)
awk -v peaks="$PK" 'BEGIN { n = split(peaks, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); pk[kv[1]] = kv[2] } }
function sub1(re, kind,   f, v) {
  while (match($0, re)) {
    split(substr($0, RSTART + 1, RLENGTH - 2), f, ":")
    if (!(f[2] in pk)) v = "?"
    else if (kind == "CEIL") v = sprintf("%.1f", pk[f[2]] * 1e9 / (2 * f[3]))
    else if (kind == "FRAC") v = sprintf("%.0f%%", 100 * f[3] * 2 * f[4] / (pk[f[2]] * 1e9))
    else if (kind == "PEAK") v = pk[f[2]]
    else v = sprintf("%.0f%%", 100 * f[3] / pk[f[2]])
    $0 = substr($0, 1, RSTART - 1) v substr($0, RSTART + RLENGTH)
  }
}
{ sub1("@CEIL:[a-z0-9]+:[0-9.]+@", "CEIL"); sub1("@FRAC:[a-z0-9]+:[0-9.]+:[0-9.]+@", "FRAC")
  sub1("@PEAK:[a-z0-9]+@", "PEAK"); sub1("@PCT:[a-z0-9]+:[0-9.]+@", "PCT"); print }' "$ROWS"
exit 0
