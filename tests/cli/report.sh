#!/usr/bin/env bash
# moeprobe report: renders the six fixture models side by side and checks the content against
# the archives (bin/tools/report_fixture writes them from the refs and prints the values the
# report must show), every plot file (well-formed SVG with the expected number of series or
# cells), the announcements of missing sections, Markdown and PNG output, a real archive of
# `moeprobe run` (capture + evaluate only), and bad inputs (clear message, non-zero exit).
set -u
B=$MOEPROBE_BIN; S=$MOEPROBE_SHARED; R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/report
TOOLS=$(dirname "$B")/tools
rm -rf "$T"; mkdir -p "$T/fx" "$T/fx2"
pass() { echo "PASS report/$1"; }
fail() { echo "FAIL report/$1: $2"; }
ok() { if [ "$2" = 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
MODELS="olmoe qwen2moe mixtral llama qwen2 mistral"
MOE="olmoe qwen2moe mixtral"

# ---- fixture archives -------------------------------------------------------------------------
for m in $MODELS; do
  if ! "$TOOLS/report_fixture" "$S/fixtures/models/$m" "$S/fixtures/refs/$m.h5" \
      "$S/fixtures/refs-analyses/$m.json" "$T/fx/tiny-$m.h5" > "$T/$m.expect" 2> "$T/$m.err"; then
    fail "fixture/$m" "$(cat "$T/$m.err")"
  fi
done
"$TOOLS/report_fixture" "$S/fixtures/models/olmoe" "$S/fixtures/refs/olmoe.h5" "$S/fixtures/refs-analyses/olmoe.json" \
  "$T/fx2/tiny-olmoe-partial.h5" --omit heads_experts --omit neurons --relations 4 > "$T/fx2/partial.expect" 2>&1 \
  || fail fixture/partial "$(cat "$T/fx2/partial.expect")"

# ---- HTML for the six models ---------------------------------------------------------------------
H=$T/html
args=(); for m in $MODELS; do args+=("$T/fx/tiny-$m.h5"); done
out=$("$B" report "${args[@]}" --out "$H" 2>"$T/html.err"); rc=$?
[ $rc = 0 ] && [ "$out" = "$H/index.html" ] && [ -s "$H/index.html" ] && pass html/written \
  || fail html/written "rc $rc, stdout '$out': $(head -3 "$T/html.err")"
msg=$("$TOOLS/xml_check" --html "$H/index.html" 2>&1); ok html/well_formed $? "$msg"
HTML=$H/index.html

# the paper beside the run: the six fixtures mapped to the paper's models (their weights and
# shapes differ, which the section must say); every Table 1 value and every Table 8 row of a
# mapped model is shown with the measured value and the difference; the matched pairs; without a
# mapping the section says that no model is a paper model; a bad --paper-model is refused
P=$T/paper
pm=(--paper-model tiny-olmoe=olmoe --paper-model tiny-qwen2moe=qwen1.5-moe --paper-model tiny-mixtral=mixtral
    --paper-model tiny-llama=llama-7b --paper-model tiny-qwen2=qwen1.5-7b --paper-model tiny-mistral=mistral-7b)
if "$B" report "${args[@]}" "${pm[@]}" --out "$P" >/dev/null 2>"$T/paper.err"; then
  PH=$P/index.html
  nw=$(grep -o 'its weights differ' "$PH" | wc -l)
  n1=$(grep -o '</td><td class="num">1</td><td>[^<]*</td><td>[^<]*</td><td class="num">[0-9.]*</td><td class="num">[0-9.-]*</td><td class="num">[-+][0-9.]*</td></tr>' "$PH" | wc -l)
  read -r _ _ _ _ _ _ qmrr _ < <(grep -h '^EXPECT table1 tiny-qwen2moe' "$T/qwen2moe.expect")
  qd=$(awk -v m="$qmrr" 'BEGIN{printf "%+.3f", m - 0.63}')
  row="<td>tiny-qwen2moe (Qwen 1.5-MoE)</td><td class=\"num\">1</td><td>Qwen 1.5-MoE</td><td>MRR</td><td class=\"num\">0.630</td><td class=\"num\">$qmrr</td><td class=\"num\">$qd</td>"
  n8=$(grep -o '<tr><td>[a-z_]*</td><td>tiny-[a-z0-9]* ([^)]*)</td><td class="num">[0-9.]*</td>' "$PH" | wc -l)
  [ "$nw" = 6 ] && [ "$n1" = 42 ] && grep -qF "$row" "$PH" && [ "$n8" = 36 ] \
    && grep -q '<tr><td>tiny-qwen2moe</td><td>tiny-qwen2</td><td class="num">1.512</td>' "$PH" \
    && grep -q '<tr><td>tiny-mixtral</td><td>tiny-mistral</td><td class="num">1.005</td>' "$PH" \
    && pass paper/beside_the_run \
    || fail paper/beside_the_run "weights-differ notes $nw (6), Table 1 rows $n1 (42), Table 8 rows $n8 (36), qwen2moe MRR row: $(grep -c "$qmrr" "$PH")"
else
  fail paper/beside_the_run "$(cat "$T/paper.err")"
fi
grep -q "None of these archives&#39; models is one of the paper&#39;s six" "$HTML" && pass paper/no_mapping_said \
  || fail paper/no_mapping_said "the unmapped report does not say so"
out=$("$B" report "$T/fx/tiny-olmoe.h5" --paper-model tiny-olmoe=gpt-4 --out "$T/paper-bad" 2>&1); rc=$?
[ $rc = 1 ] && [[ "$out" == *"--paper-model tiny-olmoe=gpt-4: 'gpt-4' is not a paper model"* ]] \
  && pass paper/bad_mapping_refused || fail paper/bad_mapping_refused "rc $rc: $out"

# multiple testing: each relation's "beats chance" cell, and the undefined recoveries
nb=0; bad=""
while read -r _ _ model rel text; do
  text=$(printf '%s' "$text" | sed 's/>/\&gt;/g')
  nb=$((nb + 1)); grep -qF "<tr><td>$rel</td><td>$text</td>" "$HTML" || bad="$bad $model/$rel"
done < <(grep -h '^EXPECT beats ' "$T"/*.expect)
[ "$nb" -gt 30 ] && [ -z "$bad" ] && pass multiple_testing/beats_chance_per_relation \
  || fail multiple_testing/beats_chance_per_relation "$nb expected cells, missing:$bad"
grep -q "None beats chance in .*country_capital_city" "$HTML" && grep -q "After multiple-testing control" "$HTML" \
  && pass multiple_testing/glance_reports_survivors_only \
  || fail multiple_testing/glance_reports_survivors_only "$(grep -o '<p class="glance">.\{0,300\}' "$HTML" | head -1)"
nna=$(grep -c '^EXPECT recovery_na ' "$T"/*.expect | awk -F: '{s += $2} END {print s}')
got=$(grep -o 'recovery n/a: suppression [a-z]* the MRR by' "$HTML" | wc -l)
[ "$nna" -gt 0 ] && [ "$got" = "$nna" ] && pass undefined_ratios/recovery_na_with_reason \
  || fail undefined_ratios/recovery_na_with_reason "$got cells say n/a, $nna recoveries are undefined"
# no percentage beyond ±1000 % anywhere (a ratio over noise)
big=$(grep -ohE '[-+−]?[0-9][0-9.]*%' "$HTML" | tr -d '+−%-' | awk '$1 > 1000' | head -3 | tr '\n' ' ')
[ -z "$big" ] && pass undefined_ratios/no_percentage_beyond_1000 \
  || fail undefined_ratios/no_percentage_beyond_1000 "found $big"

# Table 1: one row per model with the archive's numbers
while read -r _ _ model nrel ns hit mrr ffn attn peak pct eff; do
  row="<tr><td>$model</td><td class=\"num\">$nrel</td><td class=\"num\">$ns</td><td class=\"num\">$hit</td><td class=\"num\">$mrr</td><td class=\"num\">$ffn</td><td class=\"num\">$attn</td><td class=\"num\">$peak ($pct)</td><td class=\"num\">$eff</td>"
  grep -qF "$row" "$HTML" && pass "table1/$model" || fail "table1/$model" "no row $row"
done < <(grep -h '^EXPECT table1 ' "$T"/*.expect)

# HIT@10 / MRR per relation: the first row of each relation, models in argument order
bad=0; n=0
for rel in $(grep -h '^EXPECT rel tiny-olmoe ' "$T/olmoe.expect" | awk '{print $4}'); do
  line=$(grep -m1 -F "<tr><td>$rel</td><td class=\"num\">" "$HTML")
  k=0
  for m in $MODELS; do
    read -r hit mrr < <(awk -v r="$rel" '$1=="EXPECT" && $2=="rel" && $4==r {print $5, $6}' "$T/$m.expect")
    cells=$(echo "$line" | sed 's/<\/td>/\n/g' | sed 's/.*>//' | sed -n "$((2 + 2 * k))p;$((3 + 2 * k))p" | tr '\n' ' ')
    n=$((n + 1))
    [ "$cells" = "$hit $mrr " ] || { bad=$((bad + 1)); echo "  $rel $m: '$cells' != '$hit $mrr'"; }
    k=$((k + 1))
  done
done
[ $bad = 0 ] && [ $n = 72 ] && pass relation_table_72_cells || fail relation_table "$bad of $n cells differ"

# Table 8: blocked MRRs per relation and MoE model
bad=0; n=0
while read -r _ _ model rel base b1 b5 b10; do
  n=$((n + 1))
  grep -F "<tr><td>$rel</td><td>$model</td>" "$HTML" | grep -qF "<td class=\"num\">$base</td><td class=\"num\">$b1</td><td class=\"num\">$b5</td><td class=\"num\">$b10</td>" \
    || { bad=$((bad + 1)); echo "  block $model $rel: $base $b1 $b5 $b10 not found"; }
done < <(grep -h '^EXPECT block ' "$T"/*.expect)
[ $bad = 0 ] && [ $n -ge 36 ] && pass table8_blocked_mrr || fail table8_blocked_mrr "$bad of $n rows differ"

# Table 4: the causal pair of every relation of the MoE models
bad=0; n=0
while read -r _ _ model rel head arrow expert r sv; do
  n=$((n + 1)); ns=""; [ "$sv" = 0 ] && ns=" (not significant)"
  grep -qF "<td>$rel</td>" "$HTML" && grep -qF "<td>$head → $expert$ns</td><td class=\"num\">$r</td>" "$HTML" \
    || { bad=$((bad + 1)); echo "  pair $model $rel $head $expert $r not found"; }
done < <(grep -h '^EXPECT pair ' "$T"/*.expect)
[ $bad = 0 ] && [ $n = 36 ] && pass table4_causal_pairs || fail table4_causal_pairs "$bad of $n pairs missing"

# stage shares (Figure 3 table)
while read -r _ _ model e mi l; do
  line=$(grep -E "<tr><td>$model</td><td( class=\"num\")?>[0-9]+(–[0-9]+)?</td><td class=\"num\">-?[0-9.]+%</td>" "$HTML" | head -1)
  case "$line" in *">$e</td>"*">$mi</td>"*">$l</td>"*) pass "stage_shares/$model";;
    *) fail "stage_shares/$model" "$e $mi $l not in '$line'";; esac
done < <(grep -h '^EXPECT share ' "$T"/*.expect)

# at a glance: the model with the largest mean MRR drop at top-10 blocking
read -r worst wdrop < <(grep -h '^EXPECT block ' "$T"/*.expect | awk '{s[$3] += $5 - $8; c[$3]++}
  END {for (m in s) {d = s[m] / c[m]; if (d > best || !seen) {best = d; w = m; seen = 1}} printf "%s %.3f\n", w, best}')
grep -qF "costs $worst the most MRR (mean drop $wdrop," "$HTML" && pass glance_least_robust_model \
  || fail glance_least_robust_model "no sentence naming $worst ($wdrop)"
grep -q 'class="glance"' "$HTML" && grep -q "The FFN gain peaks at 48% of the depth in tiny-olmoe, 27% in tiny-qwen2moe, 26% in tiny-mixtral," "$HTML" && pass glance_depth \
  || fail glance_depth "no depth sentence"

# dense models: their MoE sections are announced, not drawn
for m in llama qwen2 mistral; do
  grep -qF "blocking of tiny-$m: not applicable, tiny-$m is a dense model" "$HTML" \
    && grep -qF "head–expert analyses of tiny-$m: not applicable" "$HTML" && [ ! -e "$H/plots/fig7_mrr_drop_tiny-$m.svg" ] \
    && pass "dense_announced/$m" || fail "dense_announced/$m" "note missing or heat map drawn"
done

# ---- plots ------------------------------------------------------------------------------------------
svg_count() {  # file attr=value expected name
  local got
  got=$("$TOOLS/xml_check" "$1" --count "$2" 2>&1) || { fail "plot/$4" "$got"; return; }
  case "$got" in "root svg"*) ;; *) fail "plot/$4" "root is not svg: $got"; return;; esac
  got=$(echo "$got" | awk '/^count/ {print $3}')
  [ "$got" = "$3" ] && pass "plot/$4" || fail "plot/$4" "$2: $got, expected $3"
}
P=$H/plots
svg_count "$P/fig2_ffn_gain_all_models.svg" class=series 6 fig2_all_models
svg_count "$P/fig3_stage_share.svg" class=series 3 fig3_stage_share
svg_count "$P/fig3_stage_gain_per_layer.svg" class=series 3 fig3_gain_per_layer
svg_count "$P/fig4_topk_mrr_all_models.svg" class=series 3 fig4_all_models
svg_count "$P/fig6_neuron_kinds.svg" class=series 3 fig6_neuron_kinds
# readability: the per-model gain plots share one y range (same y tick labels) in a grid; dense
# models are dashed in the all-models plot (one dashed line + its legend sample each); a dense
# model's neuron table has no expert columns and is folded; MoE tables put the two top-expert
# rankings side by side
yt=""; same=1
for m in $MODELS; do
  t=$(grep -o '<text x="64.0"[^>]*text-anchor="end"[^>]*>[^<]*' "$P/fig2_gain_tiny-$m.svg" | sed 's/.*>//' | tr '\n' ' ')
  [ -z "$yt" ] && yt=$t; [ "$t" = "$yt" ] || same=0
done
[ $same = 1 ] && [ -n "$yt" ] && grep -q '<div class="figs grid">' "$HTML" && pass readability/gain_plots_shared_y_grid \
  || fail readability/gain_plots_shared_y_grid "y ticks differ between models (first: $yt)"
nd=$(grep -o 'stroke-dasharray' "$P/fig2_ffn_gain_all_models.svg" | wc -l)
[ "$nd" = 7 ] && pass readability/dense_lines_dashed || fail readability/dense_lines_dashed "$nd dashed elements (7: the zero line, 3 dense lines and their legend samples)"
nden=$(grep -o 'is dense: every top-N neuron is in a dense MLP' "$HTML" | wc -l)
nside=$(grep -o 'Top experts by routing frequency \[layer, expert\]' "$HTML" | wc -l)
[ "$nden" = 3 ] && [ "$nside" = 3 ] && pass readability/neuron_tables || fail readability/neuron_tables "dense notes $nden (3), side-by-side headers $nside (3)"
# hover text on every heat-map cell (also maps above 600 cells) and every plotted point; sortable
# tables (inline script, no external asset)
f=$(ls "$P"/r_tiny-olmoe_*.svg | head -1)
nc=$(grep -o '<rect class="cell"' "$f" | wc -l); nt=$(grep -o '<rect class="cell"[^>]*><title>L[0-9]* #[0-9]* × L[0-9]* #[0-9]*: ' "$f" | wc -l)
np=$(grep -o '<circle ' "$P/fig2_ffn_gain_all_models.svg" | wc -l); npt=$(grep -o '<circle [^>]*><title>tiny-[a-z0-9]*: ' "$P/fig2_ffn_gain_all_models.svg" | wc -l)
[ "$nc" -gt 600 ] && [ "$nt" = "$nc" ] && [ "$np" -gt 0 ] && [ "$npt" = "$np" ] && pass readability/hover_text \
  || fail readability/hover_text "cells $nt of $nc titled, points $npt of $np titled"
grep -q "th.addEventListener('click'" "$HTML" && ! grep -q '<script src=' "$HTML" && pass readability/sortable_tables \
  || fail readability/sortable_tables "no inline sort script"
# more views: Figure 3's cumulative curve and Figure 5 (one series per model), the expert x
# relation maps (12 relation columns), Table 6 from each fixture's config.json, and the relative
# drop per relation at top-10 from the archives' MRRs
svg_count "$P/fig3_cumulative.svg" class=series 6 fig3_cumulative
svg_count "$P/fig5_mrr.svg" class=series 6 fig5_mrr
svg_count "$P/fig5_hit10.svg" class=series 6 fig5_hit10
for m in $MOE; do
  got=$("$TOOLS/xml_check" "$P/expert_relation_tiny-$m.svg" --count class=cell 2>&1 | awk '/^count/ {print $3}')
  [ -n "$got" ] && [ "$got" -gt 0 ] && [ $((got % 12)) = 0 ] && pass "plot/expert_relation/$m" \
    || fail "plot/expert_relation/$m" "$got cells (expected a multiple of 12 relations)"
done
bad=""
for m in $MODELS; do
  row=$(/usr/bin/python3 -c "
import json; c = json.load(open('$S/fixtures/models/$m/config.json'))
E = c.get('num_experts') or c.get('num_local_experts') or 0
print('<tr><td>tiny-$m</td><td>%s</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%d</td>' % (c['architectures'][0], c['num_hidden_layers'], c['hidden_size'], c['num_attention_heads'])
      + ('<td class=\"num\">%d</td><td>top-%d</td>' % (E, c['num_experts_per_tok']) if E else '<td>dense</td>'))")
  grep -qF "$row" "$HTML" || bad="$bad $m"
done
[ -z "$bad" ] && pass views/table6 || fail views/table6 "rows differ from config.json:$bad"
bad=0; n=0
while read -r _ _ model rel want; do
  n=$((n + 1))
  grep -A40 'id="relative-drop"' "$HTML" | grep -q "<tr><td>$rel</td>.*>$want<" || { bad=$((bad + 1)); echo "  $model $rel: $want"; }
done < <(grep -h '^EXPECT reldrop ' "$T"/*.expect)
[ $bad = 0 ] && [ $n = 36 ] && pass views/relative_drop_top10 || fail views/relative_drop_top10 "$bad of $n cells differ"
for m in $MODELS; do
  svg_count "$P/fig2_gain_tiny-$m.svg" class=series 2 "fig2_gain/$m"
  svg_count "$P/fig2_ffn_by_relation_tiny-$m.svg" class=series 12 "fig2_by_relation/$m"
  svg_count "$P/neuron_overlap_tiny-${m}_top100.svg" class=cell 144 "neuron_overlap/$m"
done
declare -A CELLS=([olmoe]=1024 [qwen2moe]=2304 [mixtral]=1152)
for m in $MOE; do
  svg_count "$P/fig7_mrr_drop_tiny-$m.svg" class=cell 36 "fig7_mrr_drop/$m"
  svg_count "$P/fig4_topk_tiny-$m.svg" class=series 2 "fig4_topk/$m"
  svg_count "$P/path_shares_tiny-$m.svg" class=series 4 "path_shares/$m"
  bad=0
  for f in "$P"/r_tiny-${m}_*.svg; do
    got=$("$TOOLS/xml_check" "$f" --count class=cell 2>&1 | awk '/^count/ {print $3}')
    [ "$got" = "${CELLS[$m]}" ] || { bad=$((bad + 1)); echo "  $f: $got cells"; }
  done
  nmaps=$(ls "$P"/r_tiny-${m}_*.svg 2>/dev/null | wc -l)
  [ $bad = 0 ] && [ "$nmaps" = 12 ] && pass "r_heatmaps/$m" || fail "r_heatmaps/$m" "$nmaps maps, $bad with a wrong cell count"
done
# every image the page shows exists, and every plot file is well-formed
missing=0
for src in $(grep -o 'src="plots/[^"]*"' "$HTML" | sed 's/src="//; s/"$//'); do
  [ -s "$H/$src" ] || { missing=$((missing + 1)); echo "  missing $src"; }
done
nimg=$(grep -o 'src="plots/[^"]*"' "$HTML" | wc -l)
[ $missing = 0 ] && [ "$nimg" = "$(ls "$P" | wc -l)" ] && pass images_exist || fail images_exist "$missing of $nimg missing, $(ls "$P" | wc -l) files"
bad=0; for f in "$P"/*.svg; do "$TOOLS/xml_check" "$f" >/dev/null 2>&1 || { bad=$((bad + 1)); "$TOOLS/xml_check" "$f"; }; done
[ $bad = 0 ] && pass all_svg_well_formed || fail all_svg_well_formed "$bad files"

# ---- a section missing from an archive is announced ---------------------------------------------
out=$("$B" report "$T/fx2/tiny-olmoe-partial.h5" "$T/fx/tiny-llama.h5" --out "$T/partial" 2>&1); rc=$?
grep -qF "head–expert analyses of tiny-olmoe-partial: stage heads_experts was not run for tiny-olmoe-partial" "$T/partial/index.html" 2>/dev/null \
  && grep -qF "neuron analyses of tiny-olmoe-partial: stage neurons was not run" "$T/partial/index.html" \
  && [ $rc = 0 ] && pass missing_stage_announced || fail missing_stage_announced "rc $rc: $out"

# ---- Markdown ----------------------------------------------------------------------------------------
out=$("$B" report "${args[@]}" --out "$T/md" --format markdown 2>&1); rc=$?
read -r _ _ model nrel ns hit mrr ffn attn peak pct eff < <(grep -h '^EXPECT table1 tiny-qwen2moe' "$T/qwen2moe.expect")
grep -qF "| $model | $nrel | $ns | $hit | $mrr | $ffn | $attn | $peak ($pct) | $eff |" "$T/md/report.md" 2>/dev/null \
  && [ "$out" = "$T/md/report.md" ] && pass markdown/table1 || fail markdown/table1 "rc $rc: $out"
missing=0
for l in $(grep -o '](plots/[^)]*)' "$T/md/report.md" | sed 's/^](//; s/)$//'); do [ -s "$T/md/$l" ] || missing=$((missing + 1)); done
nl=$(grep -c '](plots/' "$T/md/report.md")
[ $missing = 0 ] && [ "$nl" -gt 60 ] && pass markdown/image_links || fail markdown/image_links "$missing of $nl links broken"

# ---- PNG ------------------------------------------------------------------------------------------
png_ok() {  # dir name
  local bad=0 n=0
  for f in "$1"/plots/*; do
    n=$((n + 1))
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || bad=$((bad + 1))
  done
  [ $bad = 0 ] && [ $n -gt 5 ] && ! grep -q '\.svg"' "$1/index.html" && pass "$2" || fail "$2" "$bad of $n files are not PNG"
}
if command -v gnuplot >/dev/null; then
  out=$("$B" report "$T/fx2/tiny-olmoe-partial.h5" "$T/fx/tiny-llama.h5" --out "$T/png-gp" --plots png --png-tool gnuplot 2>&1)
  [ $? = 0 ] && png_ok "$T/png-gp" png/gnuplot || fail png/gnuplot "$out"
else
  fail png/gnuplot "gnuplot not installed (scripts/install-deps.sh installs gnuplot-nox)"
fi
if command -v rsvg-convert >/dev/null; then
  out=$("$B" report "$T/fx2/tiny-olmoe-partial.h5" "$T/fx/tiny-llama.h5" --out "$T/png-rsvg" --plots png --png-tool rsvg-convert 2>&1)
  [ $? = 0 ] && png_ok "$T/png-rsvg" png/rsvg_convert || fail png/rsvg_convert "$out"
else
  fail png/rsvg_convert "rsvg-convert not installed (scripts/install-deps.sh installs librsvg2-bin)"
fi
out=$(PATH=/nonexistent-bin "$B" report "$T/fx/tiny-llama.h5" --out "$T/png-none" --plots png 2>&1); rc=$?
case "$out" in *rsvg-convert*gnuplot*) [ $rc = 1 ] && [ ! -e "$T/png-none" ] && pass png/no_converter_message \
  || fail png/no_converter_message "rc $rc";; *) fail png/no_converter_message "rc $rc: $out";; esac

# ---- a real archive: capture + evaluate only ---------------------------------------------------
cat > "$T/real.yaml" <<YAML
model: $R/models/tiny-olmoe
relations: [country_capital_city, country_language]
relations_dir: $R/data/lre
out: $T/real
stages: [capture, evaluate]
capture:
  points: [topk]
progress_every_s: 0
YAML
# (the run's MPI library leaks at exit under ASan builds; that is not what this test checks)
if ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$B" run "$T/real.yaml" >/dev/null 2>"$T/real.err"; then
  out=$("$B" report "$T/real" --out "$T/real-report" 2>&1); rc=$?
  RH=$T/real-report/index.html
  [ $rc = 0 ] && pass real/rendered || fail real/rendered "rc $rc: $out"
  bad=0
  for rel in country_capital_city country_language; do
    read -r hit mrr < <(awk -v r="$rel" '$2=="rel" && $4==r {print $5, $6}' "$T/olmoe.expect")
    grep -qF "<tr><td>$rel</td><td class=\"num\">$hit</td><td class=\"num\">$mrr</td></tr>" "$RH" || bad=$((bad + 1))
  done
  [ $bad = 0 ] && pass real/metrics_match_refs || fail real/metrics_match_refs "$bad relations differ"
  for st in summarise block heads_experts neurons; do
    grep -qF "stage $st was not run for tiny-olmoe (not in the run config" "$RH" && pass "real/announces_$st" \
      || fail "real/announces_$st" "no note"
  done
  grep -qF "<tr><td>capture</td><td class=\"num\">2</td>" "$RH" && grep -qF "<td>units complete</td><td class=\"num\">2 (" "$RH" \
    && pass real/provenance_units || fail real/provenance_units "unit timings missing"
  msg=$("$TOOLS/xml_check" --html "$RH" 2>&1); ok real/well_formed $? "$msg"
else
  fail real/run "$(tail -3 "$T/real.err")"
fi

# ---- a real archive with head attributions: Table 4 and the layer x head map ------------------
sed -e "s|out: .*|out: $T/real-attr|" -e "s|stages: .*|stages: [capture, evaluate, attribute]|" "$T/real.yaml" > "$T/real-attr.yaml"
printf 'attribute:\n  neurons_top: [1]\n' >> "$T/real-attr.yaml"
if ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$B" run "$T/real-attr.yaml" >/dev/null 2>"$T/real-attr.err" \
   && "$B" report "$T/real-attr" --out "$T/real-attr-report" >/dev/null 2>&1; then
  AH=$T/real-attr-report/index.html
  # the top-3 heads of country_capital_city: mean over samples of attribution/<rel>/head [n, 4, 4]
  want=$(h5dump -d /attribution/country_capital_city/head -y -w 0 -m %.17g "$T/real-attr/tiny-olmoe.h5" |
    sed -n '/DATA {/,/}/p' | grep -E '^ *-?[0-9]' | tr -d ', ' |
    awk '{s[(NR - 1) % 16] += $1; n++} END {for (k = 0; k < 16; k++) print s[k] / (n / 16), k}' |
    sort -k1,1gr -k2,2n | head -3 | awk '{printf "%s[%d,%d] (%.3f)", (NR > 1 ? ", " : ""), int($2 / 4), $2 % 4, $1}')
  grep -qF "<tr><td>country_capital_city</td><td>$want</td>" "$AH" && pass real/table4_top_heads \
    || fail real/table4_top_heads "no row with $want"
  svg_count "$T/real-attr-report/plots/head_map_tiny-olmoe.svg" class=cell 16 real/head_map
else
  fail real/attr_run "$(tail -3 "$T/real-attr.err")"
fi

# ---- two runs of one model with different configs: labelled by the key that differs -----------
sed -e "s|out: .*|out: $T/real-b|" "$T/real.yaml" > "$T/real-b.yaml"
printf 'max_samples: 10\n' >> "$T/real-b.yaml"
if ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$B" run "$T/real-b.yaml" >/dev/null 2>"$T/real-b.err" \
   && "$B" report "$T/real" "$T/real-b" --out "$T/two-runs" >/dev/null 2>&1; then
  TH=$T/two-runs/index.html
  grep -qF "<tr><td>tiny-olmoe [max_samples=0]</td>" "$TH" && grep -qF "<tr><td>tiny-olmoe [max_samples=10]</td>" "$TH" \
    && grep -qF "<tr><td>tiny-olmoe [max_samples=10]</td><td>max_samples: 10</td></tr>" "$TH" \
    && ! grep -q "tiny-olmoe (2)" "$TH" && pass runs/labelled_by_differing_keys \
    || fail runs/labelled_by_differing_keys "$(grep -o '<tr><td>tiny-olmoe[^<]*' "$TH" | sort -u | head -3 | tr '\n' ' ')"
else
  fail runs/two_runs "$(tail -3 "$T/real-b.err")"
fi

# ---- a trace archive: it names its model (config.json and model_name stored; the report calls it
# by the model name, not the file name) and stores prompt and object ------
if "$B" trace --model "$R/models/tiny-olmoe" --prompt "The capital of Canada is" --object "Ottawa" \
     --prompt "Paris is in" --object "France" --out "$T/trace.h5" >/dev/null 2>"$T/trace.err" \
   && "$B" report "$T/trace.h5" --out "$T/trace-report" >/dev/null 2>&1; then
  pt=$(h5dump -a /prompt00/prompt "$T/trace.h5" 2>/dev/null | sed -n 's/^ *(0): //p')
  ob=$(h5dump -a /prompt00/object "$T/trace.h5" 2>/dev/null | sed -n 's/^ *(0): //p')
  [ "$pt" = '"The capital of Canada is"' ] && [ "$ob" = '"Ottawa"' ] && pass trace/prompt_and_object_stored \
    || fail trace/prompt_and_object_stored "prompt $pt, object $ob"
  ! grep -q "is a dense model" "$T/trace-report/index.html" \
    && grep -qF "<tr><td>tiny-olmoe</td><td>OlmoeForCausalLM</td>" "$T/trace-report/index.html" \
    && pass trace/report_knows_moe || fail trace/report_knows_moe "the report calls the MoE trace dense or lacks its config"
  # the per-prompt drill-down (report/sec_trace.c) against what the trace stores: the tokens,
  # the target's rank and probability (softmax of logits_last at target_id, recomputed here), every
  # layer's attention / FFN gain, the top head (argmax of attr_head) and the top neuron
  TR=$T/trace-report/index.html
  h5v() { h5dump -m '%.17g' -w 0 -y -d "/$1/$2" "$T/trace.h5" 2>/dev/null | sed -n '/DATA {/,/}/p' \
    | grep -v 'DATA {\|}' | tr ',' '\n' | awk 'NF {print $1}'; }
  bad=""
  for p in prompt00 prompt01; do
    t=$(h5v $p target_id)
    want=$(h5v $p logits_last | awk -v t="$t" '{v[NR - 1] = $1} END {
      m = v[0]; for (i in v) if (v[i] > m) m = v[i]; r = 1; z = 0
      for (i in v) { z += exp(v[i] - m); if (v[i] > v[t]) r++ }
      printf "%d %d %.9g", r, NR, exp(v[t] - m) / z }')
    read -r rank V prob <<< "$want"
    got=$(grep -o "<p>Target token id $t: rank $rank of $V, probability [0-9.e+-]*" "$TR" | sed 's/.* //')
    [ -n "$got" ] && awk -v a="$got" -v b="$prob" 'BEGIN {exit !(a / b > 0.9999 && a / b < 1.0001)}' \
      || bad="$bad $p:rank/prob (want rank $rank, p $prob)"
    ids=$(h5v $p input_ids | tr '\n' ' ' | sed 's/ $//')
    grep -qF "the trace stores no decoded text): $ids</p>" "$TR" || bad="$bad $p:tokens"
    paste <(h5v $p attr_attn_gain) <(h5v $p attr_ffn_gain) | awk '{printf "<tr><td class=\"num\">%d</td><td class=\"num\">%.6f</td><td class=\"num\">%.6f</td></tr>\n", NR - 1, $1, $2}' > "$T/$p.gains"
    [ "$(grep -cFf "$T/$p.gains" "$TR")" = 4 ] || bad="$bad $p:gains"
    nh=$(h5dump -H -d /$p/attr_head "$T/trace.h5" | grep -o '( [0-9]*, [0-9]* )' | head -1 | tr -dc '0-9 ' | awk '{print $2}')
    th=$(h5v $p attr_head | awk -v nh="$nh" 'NR == 1 || $1 > m {m = $1; i = NR - 1} END {
      printf "<tr><td class=\"num\">1</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%.6f</td></tr>", int(i / nh), i % nh, m}')
    grep -qF "$th" "$TR" || bad="$bad $p:top_head($th)"
    tn=$(h5v $p attr_neuron_top100 | head -3 | tr '\n' ' ')
    ts=$(h5v $p attr_neuron_top100_score | head -1)
    row=$(echo "$tn $ts" | awk '{printf "<tr><td class=\"num\">1</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%.6f</td></tr>", $1, $2, $3, $4}')
    grep -qF "$row" "$TR" || bad="$bad $p:top_neuron"
    # the top expert: the argmax slot of attr_expert_topk [L,k], named by topk_idx [L,T,k] at the
    # last position
    nt=$(h5v $p input_ids | wc -l)
    k=$(h5dump -H -d /$p/attr_expert_topk "$T/trace.h5" | grep -o '( [0-9]*, [0-9]* )' | head -1 | tr -dc '0-9 ' | awk '{print $2}')
    read -r el es ev <<< "$(h5v $p attr_expert_topk | awk -v k="$k" 'NR == 1 || $1 > m {m = $1; i = NR - 1} END {print int(i / k), i % k, m}')"
    eid=$(h5v $p topk_idx | sed -n "$(( (el * nt + nt - 1) * k + es + 1 ))p")
    row=$(awk -v l="$el" -v e="$eid" -v s="$es" -v v="$ev" 'BEGIN {printf "<tr><td class=\"num\">1</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%.6f</td></tr>", l, e, s, v}')
    grep -qF "$row" "$TR" || bad="$bad $p:top_expert($row)"
  done
  nexp=$(grep -c '<tr><th>top expert</th><th>layer</th><th>expert</th>' "$TR")
  [ -z "$bad" ] && [ "$nexp" = 2 ] && grep -qF '<h3>tiny-olmoe prompt01: &quot;Paris is in&quot; → &quot;France&quot;</h3>' "$TR" \
    && pass trace/drilldown_matches_archive || fail trace/drilldown_matches_archive "wrong or missing:$bad; expert tables $nexp (2)"
  ! grep -q 'id="trace"' "$HTML" && grep -q '<h2 id="trace">' "$TR" && pass trace/drilldown_only_for_traces \
    || fail trace/drilldown_only_for_traces "the drill-down section is shown for non-trace archives or missing"
else
  fail trace/run "$(tail -3 "$T/trace.err")"
fi

# ---- bad inputs ---------------------------------------------------------------------------------
expect_fail() {  # name want_rc pattern command...
  local name=$1 want=$2 pat=$3; shift 3
  local out rc
  out=$("$@" 2>&1 >/dev/null); rc=$?
  case "$out" in *"$pat"*) [ $rc = "$want" ] && pass "bad/$name" || fail "bad/$name" "rc $rc (want $want): $out";;
    *) fail "bad/$name" "rc $rc, message '$out' lacks '$pat'";; esac
}
echo "not hdf5" > "$T/text.h5"
touch "$T/regular-file"
expect_fail missing_archive 1 "cannot open the archive: No such file" "$B" report "$T/nope.h5" --out "$T/o1"
expect_fail not_hdf5 1 "not an HDF5 file" "$B" report "$T/text.h5" --out "$T/o2"
expect_fail hdf5_not_an_archive 1 "not a moeprobe archive" "$B" report "$S/fixtures/refs/olmoe.h5" --out "$T/o3"
expect_fail out_under_a_file 1 "report: cannot create folder" "$B" report "$T/fx/tiny-llama.h5" --out "$T/regular-file/sub"
expect_fail out_is_a_file 1 "not a folder" "$B" report "$T/fx/tiny-llama.h5" --out "$T/regular-file"
expect_fail out_unwritable 1 "report: cannot create folder /proc/" "$B" report "$T/fx/tiny-llama.h5" --out /proc/moeprobe-report
expect_fail folder_without_archive 1 "expected an archive" "$B" report "$T/fx" --out "$T/o4"
expect_fail no_archive 2 "no archive given" "$B" report --out "$T/o5"
expect_fail no_out 2 "--out DIR is required" "$B" report "$T/fx/tiny-llama.h5"
expect_fail bad_format 2 "expected html or markdown" "$B" report "$T/fx/tiny-llama.h5" --out "$T/o6" --format pdf
expect_fail bad_plots 2 "expected svg or png" "$B" report "$T/fx/tiny-llama.h5" --out "$T/o7" --plots jpg
# a bad archive among good ones: nothing is written
expect_fail one_bad_among_good 1 "cannot open the archive" "$B" report "$T/fx/tiny-llama.h5" "$T/nope.h5" --out "$T/o8"
[ ! -e "$T/o8" ] && pass bad/nothing_written_on_failure || fail bad/nothing_written_on_failure "$T/o8 exists"
"$B" report --help | grep -q "usage: moeprobe report" && pass help || fail help "no usage"
