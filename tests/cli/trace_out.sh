#!/usr/bin/env bash
# trace --out never destroys what is not its own (#13 point 5): a character device (a copy of
# /dev/null made with mknod, never the real one), a FIFO, a symbolic link and a folder at OUT are
# refused with exit 2 before the model is loaded, and are left exactly as they were; a regular
# file is replaced only by a complete trace (OUT.tmp.<pid> renamed over it, its checksum
# rewritten as OUT.sha256), with no temp file, parts folder or lock left beside it.
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/trace_out; rm -rf "$T"; mkdir -p "$T"
B=$MOEPROBE_BIN; M=$R/models/tiny-qwen2moe
export OMPI_MCA_ess_singleton_isolated=1
ok() { echo "PASS trace_out/$1${2:+ ($2)}"; }
bad() { echo "FAIL trace_out/$1: $2"; }
trace() { timeout 120 "$B" trace --model "$M" --prompt "The capital of Canada is" --out "$1" >"$T/out" 2>"$T/err"; }

refused() {  # NAME PATH WHAT-PATTERN CHECK-COMMAND...: exit 2, the message, the object intact
  local name=$1 p=$2 pat=$3; shift 3
  trace "$p"; local rc=$?
  if [ $rc != 2 ]; then bad "$name" "exit $rc, expected 2: $(head -c 300 "$T/err")"
  elif ! grep -qE -- "--out $p: exists and is $pat" "$T/err"; then bad "$name" "message: $(head -c 300 "$T/err")"
  elif ! "$@"; then bad "$name" "the object at $p changed: $(ls -la "$p" 2>&1)"
  elif ls "$T" | grep -q '\.tmp\.'; then bad "$name" "temp left: $(ls "$T")"
  else ok "$name" "exit 2, intact"; fi
}
if mknod "$T/nulldev" c 1 3 2>/dev/null; then
  refused character_device "$T/nulldev" "a character device" test -c "$T/nulldev"
else
  echo "SKIP trace_out/character_device: mknod not permitted here"
fi
mkfifo "$T/fifo"
refused fifo "$T/fifo" "a FIFO" test -p "$T/fifo"
echo precious >"$T/target"; ln -s "$T/target" "$T/link"
refused symlink "$T/link" "a symbolic link" \
  bash -c '[ -L "$1" ] && [ "$(readlink "$1")" = "$2" ] && [ "$(cat "$2")" = precious ]' _ "$T/link" "$T/target"
mkdir -p "$T/dir/keep"
refused folder "$T/dir" "a folder" test -d "$T/dir/keep"

# a regular file is replaced by the complete trace
echo old >"$T/t.h5"
if trace "$T/t.h5" && [ "$(tail -1 "$T/out")" = "$T/t.h5" ] && h5ls "$T/t.h5/prompt00" >/dev/null 2>&1; then
  # beside it only its checksum, for its own name (archive.h, CHECKSUMS)
  left=$(ls -A "$T" | grep -E '^t\.h5\.' | grep -vx 't.h5.sha256' | tr '\n' ' ')
  sum=$(cd "$T" && sha256sum -c t.h5.sha256 2>&1)
  [ -z "$left" ] && [ "$sum" = "t.h5: OK" ] && ok regular_file_replaced "no temp left, t.h5.sha256 checks" \
    || bad regular_file_replaced "left: $left; sha256sum -c: $sum"
else
  bad regular_file_replaced "exit or file wrong: $(head -c 300 "$T/err")"
fi
