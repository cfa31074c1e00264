# par_run.bash — sourced by tests/cli/*.sh that make several independent `moeprobe run`s.
# par_run NAME CONFIG [ARGS...] starts `$B run CONFIG ARGS` in the background once fewer than
# the CPU count run (stdout to $T/NAME.out, stderr to $T/NAME.err, exit status to $T/NAME.rc,
# seconds taken to $T/NAME.s);
# par_wait waits for them all. Each run gets one thread (MOEPROBE_THREADS=1): most of a run's
# work (attribution, archive I/O) is one thread anyway, and the products give the same bits on
# any thread count (pipeline/ops/kern.h), so N one-thread runs keep N cores busy where N runs
# one after the other leave one idle. Needs B and T.
PAR_MAX=$(nproc 2>/dev/null || echo 2)
par_run() {
  local name=$1 cfg=$2; shift 2
  while [ "$(jobs -rp | wc -l)" -ge "$PAR_MAX" ]; do wait -n; done
  ( t0=$(date +%s.%N)
    MOEPROBE_THREADS=1 "$B" run "$cfg" "$@" >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f\n", b - a}' >"$T/$name.s" ) &
}
par_wait() { wait; }
# par_ok NAME: 0 when that run exited 0
par_ok() { [ "$(cat "$T/$1.rc" 2>/dev/null)" = 0 ]; }
