#!/usr/bin/env bash
# Forward pass at full scale (issues 4 and 8): speed of the capture pass against the FLOP
# ceiling and against Hugging Face transformers, memory per rank, expert parallelism, neuron
# attribution, and the time of a full 12-relation sweep per model shape. Random-weight
# checkpoints of the real shapes (moeprobe make-model, bf16) are written to $BENCH_WORK and
# deleted at the end. See docs/performance.md for what each row means.
#
# Environment:
#   BENCH_FULL=0       skip the full-scale parts (OLMoE 16 layers, 14 GB; Qwen1.5-MoE 12 layers,
#                      15 GB); default 1
#   BENCH_HF=0         skip the Hugging Face baseline (no .bench-venv, no torch download)
#   BENCH_SAMPLES=N    prompts per relation in the full-scale and multi-rank passes (default 24:
#                      283 prompts, 2858 OLMo tokens; 0 = all 906)
#   BENCH_CMP_SAMPLES  the same for the OLMoE-shaped comparison with HF (default 0: all 906)
#   BENCH_MIX_SAMPLES  the same for the Mixtral-shaped comparison (default 48: 440 prompts)
#   BENCH_REPEATS=N    best of N for the moeprobe and HF bf16 passes (default 2; the machine may
#                      be shared, and the best run is the one least disturbed)
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
CMP_SAMPLES=${BENCH_CMP_SAMPLES:-0}
MIX_SAMPLES=${BENCH_MIX_SAMPLES:-48}
REPEATS=${BENCH_REPEATS:-2}
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

cc -O2 -std=c11 -D_GNU_SOURCE -I. $(pkg-config --cflags hdf5 openblas ompi-c) \
  -o "$FB" bench/forward_bench.c "$BUILD/libmoeprobe.a" \
  $(pkg-config --libs hdf5 openblas yaml-0.1 jansson libpcre2-8 libutf8proc ompi-c) \
  -lhdf5_hl -lm -lpthread || exit 1
KB=$OUT/kern_bench
cc -O2 -std=c11 -D_GNU_SOURCE -I. $(pkg-config --cflags hdf5 openblas ompi-c) \
  -o "$KB" bench/kern_bench.c "$BUILD/libmoeprobe.a" \
  $(pkg-config --libs hdf5 openblas yaml-0.1 jansson libpcre2-8 libutf8proc ompi-c) \
  -lhdf5_hl -lm -lpthread || exit 1
ISAS=$("$BIN" --version | sed -n 's/^kernel paths: \([a-z0-9 ]*\).*/\1/p')

# ---- helpers -------------------------------------------------------------------------------
get() { sed -n "s/^$2=//p" "$1" | head -1; }                    # get FILE KEY
rget() { sed -n "s/^rank_$2=.*$3:\([^ ]*\).*/\1/p" "$1"; }       # rget FILE RANK FIELD
calc() { awk "BEGIN{print $*}"; }
fmt() { awk "BEGIN{printf \"$1\", $2}"; }
gb() { awk "BEGIN{printf \"%.2f GB\", $1 / 1e9}"; }
ROWS=$OUT/bench_forward.rows; : >"$ROWS"
row() { printf 'ROW\tforward\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }
PEAKS=$OUT/peaks.txt; : >"$PEAKS"
peak() { "$FB" peak 6 | tee -a "$LOG" | sed -n 's/^sgemm_peak_gflops=//p' >>"$PEAKS"; }
load() { cut -d' ' -f1 /proc/loadavg; }
note() { echo "$*" >&2; echo "# $*" >>"$LOG"; }

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

# moeprobe capture (or eval) pass; the output file of the best of REPEATS runs.
mp_run() {  # OUTFILE NAME RANKS MODE [extra args]
  local out=$1 name=$2 np=$3 mode=$4; shift 4
  local best=0 i tps cmd
  for i in $(seq "$REPEATS"); do
    if [ "$np" -gt 1 ]; then
      cmd=(mpirun --oversubscribe -np "$np" "$FB" run --mpi)
    else
      cmd=("$FB" run)
    fi
    "${cmd[@]}" --model "$WORK/$name" --lre "$LRE" --max-samples "$SAMPLES" --mode "$mode" "$@" \
      >"$out.$i" 2>>"$LOG" || return 1
    echo "## $name np=$np $mode run $i (load $(load))" >>"$LOG"; cat "$out.$i" >>"$LOG"
    tps=$(get "$out.$i" tokens_per_s)
    if awk "BEGIN{exit !($tps > $best)}"; then best=$tps; cp "$out.$i" "$out"; fi
  done
}

# Hugging Face pass with the token ids moeprobe wrote; best of N runs. Skipped when it would not
# fit in memory (HF holds float32 copies of all weights: ~9 bytes per parameter at its peak).
hf_run() {  # OUTFILE NAME DTYPE LOGITS N PARAMS BYTES_PER_PARAM
  local out=$1 name=$2 dtype=$3 logits=$4 n=$5 need avail best=0 i tps
  need=$(calc "$6 * $7")
  avail=$(awk '/MemAvailable/{print $2 * 1024}' /proc/meminfo)
  if awk "BEGIN{exit !($need > 0.8 * $avail)}"; then
    note "skip HF $dtype on $name: needs ~$(gb "$need") of memory, $(gb "$avail") available"
    return 1
  fi
  for i in $(seq "$n"); do
    "$PY" bench/hf_forward.py "$WORK/$name" "$OUT/$name.ids" 64 "$dtype" "$(nproc)" "$logits" \
      >"$out.$i" 2>>"$LOG" || return 1
    echo "## HF $name $dtype logits=$logits run $i (load $(load))" >>"$LOG"; cat "$out.$i" >>"$LOG"
    tps=$(get "$out.$i" tokens_per_s)
    if awk "BEGIN{exit !($tps > $best)}"; then best=$tps; cp "$out.$i" "$out"; fi
  done
}
better() { awk "BEGIN{exit !($(get "$1" tokens_per_s) > $(get "$2" tokens_per_s))}"; }

# moeprobe's capture pass against Hugging Face on one checkpoint: moeprobe runs before and after
# the HF runs (the best counts, as for HF: a shared machine disturbs runs at random), HF float32
# (moeprobe's precision) called plainly (logits at every position) and with logits_to_keep=1
# (what moeprobe computes: HF's fastest form), HF bf16 (its default dtype) with logits_to_keep=1.
compare() {  # NAME LABEL SAMPLES VARIANTS [extra moeprobe args]
  local M=$1 label=$2 ns=$3 variants=$4 F=$OUT/$1 P T H h v what
  shift 4
  SAMPLES=$ns mp_run "$F.cap" "$M" 1 capture --ids "$OUT/$M.ids" "$@" || { note "moeprobe failed on $M"; return 1; }
  SAMPLES=$ns REPEATS=1 mp_run "$F.eval" "$M" 1 eval
  P=$(get "$F.cap" params)
  if [ "$HF" = 1 ]; then
    for v in $variants; do
      case $v in
        f32_all) hf_run "$F.hf_$v" "$M" float32 all 1 "$P" 9 ;;
        f32_last) hf_run "$F.hf_$v" "$M" float32 last 1 "$P" 9 ;;
        bf16_last) hf_run "$F.hf_$v" "$M" auto last 1 "$P" 4.5 ;;
      esac
    done
    SAMPLES=$ns REPEATS=1 mp_run "$F.cap2" "$M" 1 capture "$@" && better "$F.cap2" "$F.cap" && cp "$F.cap2" "$F.cap"
  fi
  T=$(get "$F.cap" tokens_per_s)
  row "$label, 1 rank: capture pass tokens/s" "$T" - - \
    "$(frac "$F.cap") of FLOP ceiling ($(ceiling "$F.cap") tok/s at 2 x $(fmt %.0fM "$(get "$F.cap" matmul_params_per_token) / 1e6") matmul params/token); $(get "$F.cap" prompts) LRE prompts, $(get "$F.cap" tokens) tokens, batches of <= 64 per relation; peak RSS $(gb "$(get "$F.cap" peak_rss_max)"); eval pass (no hooks) $(get "$F.eval" tokens_per_s) tok/s"
  for v in $variants; do
    h=$F.hf_$v
    [ -s "$h" ] || continue
    H=$(get "$h" tokens_per_s)
    case $v in
      f32_all) what="HF float32, plain call (logits at every position)" ;;
      f32_last) what="HF float32, logits_to_keep=1 (HF's fastest form of the same work)" ;;
      bf16_last) what="HF bf16 (its default dtype), logits_to_keep=1" ;;
    esac
    row "$label, 1 rank: capture tokens/s vs $what" "$T" "$H" "$(fmt %.2fx "$T / $H")" \
      "same ids and batches; HF peak RSS $(gb "$(get "$h" peak_rss)"), $(get "$h" threads) threads, transformers $(get "$h" hf_version), torch $(get "$h" torch_version), eager attention, output_hidden_states + output_router_logits"
  done
}

# ---- the machine ---------------------------------------------------------------------------
# The ceiling is the best sgemm rate seen: measured here and again at the end of the runs
# (on a shared machine a single measurement may be taken while others compute).
LOAD0=$(load)
peak
# the weight-product kernels alone, per kernel path, against the sgemm ceiling (generic, a
# fallback at a few GFLOP/s, is left out)
PK=$(tail -1 "$PEAKS")
for isa in $ISAS; do
  [ "$isa" = generic ] && continue
  MOEPROBE_ISA=$isa "$KB" 1 | tee -a "$LOG" | while IFS= read -r l; do
    shape=$(echo "$l" | sed -n 's/.*shape="\([^"]*\)".*/\1/p'); g=$(echo "$l" | sed -n 's/.*gflops=//p')
    [ -n "$g" ] && row "kernel path $isa: $shape, GFLOP/s" "$g" "$PK" "$(fmt %.0f%% "100 * $g / $PK")" \
      "baseline = OpenBLAS sgemm peak (float32, the FLOP ceiling) on the same machine; weights bf16; $(echo "$l" | sed -n 's/.*threads=\([0-9]*\).*/\1/p') thread(s); $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  done
done
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
    row "tiny $m fixture: logits error vs float64 HF refs (max rel, 26 prompts)" "${mpe:--}" \
      "$(get "$OUT/acc_$m.txt" bf16_logits_rel)" - \
      "baseline = HF default dtype (bf16); HF float32: $(get "$OUT/acc_$m.txt" f32_logits_rel); the project tolerance is 1e-4, so the bf16 baseline does not compute the same thing"
  done
fi

# fraction of the FLOP ceiling: tokens/s over peak / (2 x matmul parameters per token); the
# peak is the best of the sgemm measurements taken through the run, filled in at the end
ceiling() { echo "@CEIL:$(get "$1" matmul_params_per_token)@"; }
frac() { echo "@FRAC:$(get "$1" tokens_per_s):$(get "$1" matmul_params_per_token)@"; }
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

peak
# ---- OLMoE-shaped, 4 of 16 layers: moeprobe against Hugging Face, ranks 1-3 ------------------
if mkmodel olmoe-l4 "$CFG/olmoe-1b-7b-0924/config.json" "$TOK/olmo.tokenizer.json" 4; then
  M=olmoe-l4; F=$OUT/$M
  compare $M "olmoe-1b-7b shape, 4/16 layers" "$CMP_SAMPLES" "f32_all f32_last bf16_last"
  T=$(get "$F.cap" tokens_per_s)
  # the kernel paths this CPU runs (pipeline/ops/kern.h), same prompts, same bits: the best
  # against AVX2 + FMA (what AMD Zen 2/3 and older Intel nodes take); portable C (generic, a
  # fallback at a few GFLOP/s) would take hours on this shape and is left out
  for isa in $ISAS; do
    [ "$isa" = generic ] && continue
    MOEPROBE_ISA=$isa REPEATS=1 mp_run "$F.isa-$isa" $M 1 capture || continue
  done
  best=$("$BIN" --version | sed -n 's/^kernel paths: \([a-z0-9]*\).*/\1/p')
  for isa in $("$BIN" --version | sed -n 's/^kernel paths: [a-z0-9]* \([a-z0-9 ]*\).*/\1/p'); do
    [ -f "$F.isa-$isa" ] && [ -f "$F.isa-$best" ] || continue
    row "olmoe-1b-7b shape, 4/16 layers, 1 rank: kernel path $best vs $isa, tokens/s" \
      "$(get "$F.isa-$best" tokens_per_s)" "$(get "$F.isa-$isa" tokens_per_s)" \
      "$(fmt %.2fx "$(get "$F.isa-$best" tokens_per_s) / $(get "$F.isa-$isa" tokens_per_s)")" \
      "baseline = the same build with MOEPROBE_ISA=$isa (same summation order, same bits); $SAMPLES prompts/relation; measured on $(lscpu | sed -n "s/^Model name: *//p" | head -1)"
  done
  for np in 2 3; do
    SAMPLES=$CMP_SAMPLES REPEATS=1 mp_run "$F.np$np" $M "$np" capture || continue
    row "olmoe-1b-7b shape, 4/16 layers, $np ranks: capture tokens/s" "$(get "$F.np$np" tokens_per_s)" \
      "$(get "$F.cap" tokens_per_s)" "$(fmt %.2fx "$(get "$F.np$np" tokens_per_s) / $T")" \
      "baseline = 1 rank, same prompts; the ranks share the same $(nproc) cores (a rank per core instead of one rank on all), so this shows the cost of the exchange, not a speed-up; all-to-all $(fmt %.1f%% "100 * $(get "$F.np$np" alltoall_share)") of forward time (transfers and waiting for the slower rank); $(get "$F.np$np" threads) thread(s)/rank; $(ranks_note "$F.np$np" "$np")"
  done
  # neuron attribution: screening against brute force on the same sample
  "$FB" run --model "$WORK/$M" --lre "$LRE" --max-samples 2 --attr-samples 1 --brute 1 >"$F.brute" 2>>"$LOG"
  cat "$F.brute" >>"$LOG"
  A=$(get "$F.brute" attr_s_per_sample); B=$(get "$F.brute" brute_s_per_sample)
  [ -n "$B" ] && row "olmoe-1b-7b shape, 4/16 layers: top-100 neurons, s/sample, screened vs brute force" \
    "$A" "$B" "$(fmt %.4fx "$A / $B")" \
    "exact scorings $(get "$F.brute" attr_exact_per_sample) of $(get "$F.brute" attr_neurons_per_sample) neurons; same top-100: $([ "$(get "$F.brute" brute_mismatch)" = 0 ] && echo yes || echo NO); both include all layer/head/expert gains"
  drop "$M"
fi

peak
# ---- Mixtral-shaped, 1 of 32 layers: moeprobe against Hugging Face ---------------------------
if mkmodel mixtral-l1 "$CFG/mixtral-8x7b-v0.1/config.json" "$TOK/mistral.tokenizer.json" 1; then
  M=mixtral-l1; F=$OUT/$M
  compare $M "mixtral-8x7b shape, 1/32 layers" "$MIX_SAMPLES" "f32_all f32_last bf16_last" --attr-samples 4
  MIX_ATTR=$(calc "0$(get "$F.cap" attr_s_per_sample) * 32")
  S=$(sweep "$F.cap" "$F.eval" "$MIX_ATTR" 32 "$(get "$F.cap" sweep_tokens_per_prompt)")
  row "mixtral-8x7b shape (32 layers, 93 GB): full 12-relation sweep estimate" "$(hms "$S")" - - \
    "906 prompts, 1 rank's compute extrapolated from 1 layer: capture + 14 eval passes/relation + attribution $(fmt %.1f "$MIX_ATTR") s/sample (1-layer figure x 32); memory: 8 nodes of 24 GiB (a rank with 1 of the 8 experts holds 11.3 GB of experts + 3.2 GB replicated; 2 experts per rank would need 25.7 GB)"
  drop "$M"
fi

peak
# ---- full scale: OLMoE-1B-7B-shaped, all 16 layers (14 GB) ----------------------------------
if [ "$FULL" = 1 ] && mkmodel olmoe-full "$CFG/olmoe-1b-7b-0924/config.json" "$TOK/olmo.tokenizer.json" 16; then
  M=olmoe-full; F=$OUT/$M
  CK=$(ckpt_bytes $M)
  mp_run "$F.cap" $M 1 capture --attr-samples 8
  REPEATS=1 mp_run "$F.eval" $M 1 eval
  T=$(get "$F.cap" tokens_per_s); PR=$(get "$F.cap" peak_rss_max)
  row "olmoe-1b-7b shape, 16 layers (full), 1 rank: capture tokens/s" "$T" - - \
    "$(frac "$F.cap") of FLOP ceiling ($(ceiling "$F.cap") tok/s); eval pass $(get "$F.eval" tokens_per_s) tok/s"
  row "olmoe-1b-7b shape, 16 layers, 1 rank: peak RSS" "$(gb "$PR")" "$(gb "$CK")" "$(fmt %.3fx "$PR / $CK")" \
    "baseline = checkpoint bytes (bf16, memory-mapped, never converted); experts $(gb "$(get "$F.cap" expert_bytes_total)"); bound 1.15x + activations"
  A=$(get "$F.cap" attr_s_per_sample)
  row "olmoe-1b-7b shape, 16 layers: attribution s/sample (top-100 neurons, screened)" "$A" \
    "$(calc "$(get "$OUT/olmoe-l4.brute" brute_s_per_sample 2>/dev/null || echo 0) * 4")" - \
    "baseline = brute force, 4-layer figure x 4 (each neuron is one exact W_U pass); exact scorings $(get "$F.cap" attr_exact_per_sample) of $(get "$F.cap" attr_neurons_per_sample) neurons; $(get "$F.cap" attr_samples) samples"
  REPEATS=1 mp_run "$F.np2" $M 2 capture
  T2=$(get "$F.np2" tokens_per_s)
  row "olmoe-1b-7b shape, 16 layers, 2 ranks: capture tokens/s" "$T2" "$T" "$(fmt %.2fx "$T2 / $T")" \
    "baseline = 1 rank on the same cores; all-to-all $(fmt %.1f%% "100 * $(get "$F.np2" alltoall_share)"); $(ranks_note "$F.np2" 2)"
  S=$(sweep "$F.cap" "$F.eval" "$A" 16 "$(get "$F.cap" sweep_tokens_per_prompt)")
  row "olmoe-1b-7b shape (16 layers, 14 GB): full 12-relation sweep estimate" "$(hms "$S")" - - \
    "906 prompts x $(get "$F.cap" sweep_tokens_per_prompt) tokens, 1 rank: capture + 14 eval passes/relation at the measured rates + attribution $A s/sample"
  drop "$M"
fi

# ---- full scale: Qwen1.5-MoE-A2.7B-shaped, 12 of 24 layers (15 GB), and where 24 fit --------
if [ "$FULL" = 1 ] && mkmodel qwen-l12 "$CFG/qwen1.5-moe-a2.7b/config.json" "$TOK/qwen.tokenizer.json" 12; then
  M=qwen-l12; F=$OUT/$M
  CK=$(ckpt_bytes $M)
  mp_run "$F.cap" $M 1 capture --attr-samples 4
  REPEATS=1 mp_run "$F.eval" $M 1 eval
  REPEATS=1 mp_run "$F.np2" $M 2 capture
  T=$(get "$F.cap" tokens_per_s)
  row "qwen1.5-moe shape, 12/24 layers, 1 rank: capture tokens/s" "$T" - - \
    "$(frac "$F.cap") of FLOP ceiling; peak RSS $(gb "$(get "$F.cap" peak_rss_max)") for a $(gb "$CK") checkpoint"
  row "qwen1.5-moe shape, 12/24 layers, 2 ranks: capture tokens/s" "$(get "$F.np2" tokens_per_s)" "$T" \
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
    row "qwen1.5-moe shape, 24 layers (full, $(gb "$FULLB")), $np rank(s): RSS per rank (estimate)" \
      "$(gb "$EST")" "24 GiB" - "$why; measured at 12 layers: $(gb "$R") per rank"
  done
  QA=$(calc "$(get "$F.cap" attr_s_per_sample) * 2")
  S=$(sweep "$F.cap" "$F.eval" "$QA" 24 "$(get "$F.cap" sweep_tokens_per_prompt)")
  row "qwen1.5-moe shape (24 layers, 29 GB): full 12-relation sweep estimate" "$(hms "$S")" - - \
    "906 prompts, compute of 1 rank extrapolated from 12 layers; attribution $(fmt %.1f "$QA") s/sample (12-layer figure x 2); run on 2 nodes x 1 rank"
  drop "$M"
fi

# ---- the table -----------------------------------------------------------------------------
peak
PEAK=$(sort -g "$PEAKS" | tail -1)
CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
printf 'ROW\tforward\t%s\t%s\t-\t-\t%s\n' "machine: OpenBLAS sgemm peak (GFLOP/s), the FLOP ceiling" "$PEAK" \
  "$CPU, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; best of $(wc -l <"$PEAKS") measurements (2048^3, 4096x4096x2048; $(tr '\n' ' ' <"$PEAKS")); load avg $LOAD0 at start, $(load) at end"
awk -v peak="$PEAK" '{
  while (match($0, /@CEIL:[0-9.]+@/)) {
    split(substr($0, RSTART + 1, RLENGTH - 2), a, ":")
    $0 = substr($0, 1, RSTART - 1) sprintf("%.1f", peak * 1e9 / (2 * a[2])) substr($0, RSTART + RLENGTH)
  }
  while (match($0, /@FRAC:[0-9.]+:[0-9.]+@/)) {
    split(substr($0, RSTART + 1, RLENGTH - 2), a, ":")
    $0 = substr($0, 1, RSTART - 1) sprintf("%.0f%%", 100 * a[2] * 2 * a[3] / (peak * 1e9)) substr($0, RSTART + RLENGTH)
  }
  print }' "$ROWS"
exit 0
