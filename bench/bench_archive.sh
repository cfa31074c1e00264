#!/usr/bin/env bash
# Archive throughput: streams 100 MB of activation-like float32 into 10 units (deflate 0 and 1)
# and rebuilds the snapshot; baseline = cp + fsync of the finished archive (what a rebuild
# cannot beat, since it must write every byte once).
set -eu
BIN_DIR=$(dirname "$MOEPROBE_BIN")
T=$(mktemp -d "${TMPDIR:-/tmp}/moeprobe-bench-archive.XXXXXX")
trap 'rm -rf "$T"' EXIT
for level in 0 1; do
  line=$("$BIN_DIR/tests/test_archive" --bench "$T" 100 "$level")
  echo "$line"
  get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  t0=$(date +%s.%N)
  cp "$T/bench-$level/run.h5" "$T/copy.h5" && python3 -c "import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); os.fsync(fd)" "$T/copy.h5"
  t1=$(date +%s.%N)
  cps=$(awk "BEGIN{printf \"%.3f\", $t1 - $t0}")
  snap=$(get snapshot_s)
  printf 'ROW\tarchive\tsnapshot rebuild, 100 MB, deflate %s (s)\t%s\t%s\t%s\tfile %s MB; baseline cp+fsync\n' \
    "$level" "$snap" "$cps" "$(awk "BEGIN{printf \"%.2f\", $snap / $cps}")" "$(get file_MB)"
  printf 'ROW\tarchive\tstream write, deflate %s (MB/s)\t%s\t-\t-\t10 units of [rows,16,2048] f32, commit incl. fsync\n' \
    "$level" "$(get write_MBps)"
  rm -f "$T/copy.h5"
done
