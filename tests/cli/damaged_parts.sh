#!/usr/bin/env bash
# Damaged parts are never trusted (issue 13 point 2). A finished run's out folder is copied and
# one byte is flipped: in a part's compressed data (deflate on), in a part's raw data (deflate
# off), in a part's HDF5 metadata (a dataset's object header), in the snapshot only, and in a
# part while a run is still going (caught by the snapshot rebuild). Each time: `status` lists the
# unit failed as damaged, `verify` exits 1 naming the file, the rerun sets the part aside (kept
# as *.bad), recomputes only that unit (also with 2 MPI ranks) and ends with an archive equal to
# the undamaged run's, after which verify exits 0. Checksum files are in sha256sum format.
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/damaged_parts; rm -rf "$T"; mkdir -p "$T"
B=$MOEPROBE_BIN; TOOLS=$(dirname "$MOEPROBE_BIN")/tools
export OMPI_MCA_ess_singleton_isolated=1
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
cd "$R"
ok() { echo "PASS damaged_parts/$1"; }
bad() { echo "FAIL damaged_parts/$1: $2"; }
MPIRUN="mpirun --oversubscribe --allow-run-as-root"
CMP_OPTS=(--bits --skip run_config_yaml --skip command_line)

mkcfg() {  # FILE OUT DEFLATE
  cat > "$1" <<Y
model: models/tiny-qwen2moe
relations: [adj_antonym, country_language]
out: $2
stages: [capture, evaluate, attribute, summarise]
max_samples: 6
archive:
  deflate: $3
Y
}
flip() {  # FILE OFFSET: xor one byte with 0x5a
  /usr/bin/python3 -c "
import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, 'r+b') as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x5a]))" "$1" "$2"
}
PART=tiny-qwen2moe.h5.parts/capture%2Fadj_antonym.h5
DSET=/captures/adj_antonym/logits

for dfl in 1 0; do
  mkcfg "$T/base$dfl.yaml" "$T/base$dfl" $dfl
  "$B" run "$T/base$dfl.yaml" > /dev/null 2> "$T/base$dfl.err" || { bad "baseline_deflate$dfl" "$(tail -3 "$T/base$dfl.err")"; exit 0; }
done
(cd "$T/base1/tiny-qwen2moe.h5.parts" && sha256sum -c --quiet ./*.sha256) > "$T/sum.log" 2>&1 &&
  (cd "$T/base1" && sha256sum -c --quiet tiny-qwen2moe.h5.sha256) >> "$T/sum.log" 2>&1 &&
  ok checksums_in_sha256sum_format || bad checksums_in_sha256sum_format "$(head -3 "$T/sum.log")"
"$B" verify "$T/base1" > "$T/v0.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q "^moeprobe verify: 6 files checked, 0 damaged" "$T/v0.out" && ok verify_intact_exit_0 ||
  bad verify_intact_exit_0 "rc=$rc $(tail -2 "$T/v0.out")"

# case NAME DEFLATE WHERE: WHERE is data | header (a byte of the part's dataset or its header)
damage_case() {
  local name=$1 dfl=$2 where=$3 launch=${4:-}
  local out=$T/$name cfg=$T/$name.yaml
  cp -r "$T/base$dfl" "$out"; mkcfg "$cfg" "$out" $dfl
  # the copied manifest names the baseline's config; it is per out folder, so fix it up
  sed -i "s|$T/base$dfl|$out|g" "$out/manifest.json"
  local off size
  if [ "$where" = data ]; then
    read -r off size < <("$TOOLS/h5offset" "$out/$PART" $DSET)
    off=$((off + size / 2))
  else
    off=$(( $("$TOOLS/h5offset" "$out/$PART" $DSET --header) + 20 ))
  fi
  flip "$out/$PART" "$off"
  "$B" status "$out" > "$T/$name.status" 2>&1
  grep -q "capture/adj_antonym: damaged: .*capture%2Fadj_antonym.h5: damaged after it was written" "$T/$name.status" &&
    grep -qE "^tiny-qwen2moe +4 +0 +1 +0 +5" "$T/$name.status" &&
    ok "$name/status_says_damaged" || bad "$name/status_says_damaged" "$(cat "$T/$name.status")"
  "$B" verify "$out" > "$T/$name.verify" 2>&1; local rc=$?
  [ $rc = 1 ] && grep -q "^DAMAGED $out/$PART: " "$T/$name.verify" && [ "$(grep -c '^DAMAGED' "$T/$name.verify")" = 1 ] &&
    ok "$name/verify_names_the_part" || bad "$name/verify_names_the_part" "rc=$rc $(grep -v '^ok' "$T/$name.verify")"
  $launch "$B" run "$cfg" > /dev/null 2> "$T/$name.err"; rc=$?
  [ $rc = 0 ] && grep -q "5 units, 1 to run" "$T/$name.err" && grep -q "start capture/adj_antonym" "$T/$name.err" &&
    [ -f "$out/$PART.bad" ] && ok "$name/rerun_sets_aside_and_recomputes" ||
    bad "$name/rerun_sets_aside_and_recomputes" "rc=$rc $(grep -v '^moeprobe:   ' "$T/$name.err" | head -4)"
  local cmp; cmp=$("$TOOLS/h5cmp" "$out/tiny-qwen2moe.h5" "$T/base$dfl/tiny-qwen2moe.h5" "${CMP_OPTS[@]}"); rc=$?
  [ $rc = 0 ] && ok "$name/archive_equals_undamaged" || bad "$name/archive_equals_undamaged" "$(echo "$cmp" | head -3)"
  "$B" verify "$out" --quiet > "$T/$name.verify2" 2>&1; rc=$?
  [ $rc = 0 ] && grep -q "^note .*capture%2Fadj_antonym.h5.bad: a damaged part set aside" "$T/$name.verify2" &&
    ok "$name/verify_after_rerun_ok" || bad "$name/verify_after_rerun_ok" "rc=$rc $(cat "$T/$name.verify2")"
  "$B" status "$out" > "$T/$name.status2" 2>&1
  grep -qE "^tiny-qwen2moe +5 +0 +0 +0 +5" "$T/$name.status2" && ok "$name/status_all_done" ||
    bad "$name/status_all_done" "$(cat "$T/$name.status2")"
}
damage_case data_deflate 1 data
damage_case data_raw 0 data
damage_case metadata 1 header
damage_case metadata_raw_mpi2 0 header "$MPIRUN -np 2"

# a lone archive (no checksum file beside it) with a damaged chunk: verify's deep read fails and
# the message gives HDF5's reason (the chunk's Fletcher32 checksum), not just "cannot be read"
cp "$T/base1/tiny-qwen2moe.h5" "$T/lone.h5"
read -r off size < <("$TOOLS/h5offset" "$T/lone.h5" $DSET)
flip "$T/lone.h5" $((off + size / 2))
"$B" verify "$T/lone.h5" > "$T/lone.verify" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "^DAMAGED $T/lone.h5: .*'$DSET' cannot be read back (HDF5: .*Fletcher32" "$T/lone.verify" &&
  ok verify_gives_hdf5_reason || bad verify_gives_hdf5_reason "rc=$rc $(grep -v '^ok' "$T/lone.verify")"
! grep -q "^DAMAGED $T/lone.h5: $T/lone.h5" "$T/lone.verify" && grep -q "^DAMAGED" "$T/lone.verify" &&
  ok verify_names_file_once || bad verify_names_file_once "$(grep '^DAMAGED' "$T/lone.verify")"

# the snapshot alone: verify names it; the rerun (nothing to compute) sets it aside and rebuilds
out=$T/snap; cp -r "$T/base1" "$out"; mkcfg "$T/snap.yaml" "$out" 1
sed -i "s|$T/base1|$out|g" "$out/manifest.json"
read -r off size < <("$TOOLS/h5offset" "$out/tiny-qwen2moe.h5" $DSET)
flip "$out/tiny-qwen2moe.h5" $((off + size / 2))
"$B" verify "$out" > "$T/snap.verify" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "^DAMAGED $out/tiny-qwen2moe.h5: .*damaged after it was written" "$T/snap.verify" &&
  ok snapshot/verify_names_it || bad snapshot/verify_names_it "rc=$rc $(grep -v '^ok' "$T/snap.verify")"
# report checks the archive's checksum before it reads it: no report of wrong numbers
"$B" report "$out" --out "$T/snap.report" > /dev/null 2> "$T/snap.report.err"; rc=$?
[ $rc = 1 ] && grep -q "tiny-qwen2moe.h5: damaged after it was written" "$T/snap.report.err" && [ ! -e "$T/snap.report/index.html" ] &&
  ok snapshot/report_refuses_it || bad snapshot/report_refuses_it "rc=$rc $(head -c 300 "$T/snap.report.err")"
"$B" run "$T/snap.yaml" > /dev/null 2> "$T/snap.err"; rc=$?
cmp=$("$TOOLS/h5cmp" "$out/tiny-qwen2moe.h5" "$T/base1/tiny-qwen2moe.h5" "${CMP_OPTS[@]}"); crc=$?
[ $rc = 0 ] && grep -q "5 units, 0 to run" "$T/snap.err" && [ -f "$out/tiny-qwen2moe.h5.bad" ] && [ $crc = 0 ] &&
  "$B" verify "$out" > /dev/null 2>&1 && ok snapshot/rerun_rebuilds_it ||
  bad snapshot/rerun_rebuilds_it "rc=$rc crc=$crc $(grep -i 'warn\|units' "$T/snap.err" | head -3)"

# damage while a run goes on: a part committed earlier is damaged while a later unit is held;
# the snapshot rebuild after that unit catches it, the run exits 1 naming it, the rerun repairs
mkcfg "$T/live.yaml" "$T/live" 1
MOEPROBE_TEST_HOLD_UNIT=summarise/country_language:$T/live.go "$B" run "$T/live.yaml" > /dev/null 2> "$T/live.err" &
job=$!
for _ in $(seq 600); do grep -q "start summarise/country_language" "$T/live.err" 2>/dev/null && break; sleep 0.1; done
read -r off size < <("$TOOLS/h5offset" "$T/live/$PART" $DSET)
flip "$T/live/$PART" $((off + size / 2))
touch "$T/live.go"; wait $job; rc=$?
"$B" status "$T/live" > "$T/live.status" 2>&1
[ $rc = 1 ] && grep -q "were damaged since their commit (first: 'capture/adj_antonym')" "$T/live.err" &&
  grep -q "capture/adj_antonym: damaged: its part was damaged and is set aside" "$T/live.status" &&
  ok live/snapshot_rebuild_catches_it || bad live/snapshot_rebuild_catches_it "rc=$rc $(grep -i 'warn\|damag' "$T/live.err" | head -3) $(tail -2 "$T/live.status")"
"$B" run "$T/live.yaml" > /dev/null 2> "$T/live2.err"; rc=$?
cmp=$("$TOOLS/h5cmp" "$T/live/tiny-qwen2moe.h5" "$T/base1/tiny-qwen2moe.h5" "${CMP_OPTS[@]}"); crc=$?
# the damaged capture and summarise/pooled, which needed it and could not run
[ $rc = 0 ] && grep -q "5 units, 2 to run" "$T/live2.err" && grep -q "start capture/adj_antonym" "$T/live2.err" && [ $crc = 0 ] && "$B" verify "$T/live" > /dev/null 2>&1 &&
  ok live/rerun_repairs || bad live/rerun_repairs "rc=$rc crc=$crc $(echo "$cmp" | head -2) $(grep -i 'warn\|units' "$T/live2.err" | head -3)"

# usage and missing paths
"$B" verify > /dev/null 2>&1; r1=$?; "$B" verify "$T/nowhere" > /dev/null 2>&1; r2=$?
"$B" verify "$T/base1" --bogus > /dev/null 2>&1; r3=$?; mkdir -p "$T/empty"; "$B" verify "$T/empty" > /dev/null 2>&1; r4=$?
[ "$r1 $r2 $r3 $r4" = "2 1 2 1" ] && ok verify_exit_codes || bad verify_exit_codes "got $r1 $r2 $r3 $r4, expected 2 1 2 1"
