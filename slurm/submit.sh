#!/usr/bin/env bash
# Submits a moeprobe sweep to Slurm: plans it (OUT/manifest.json), submits one capture job
# array per model (slurm/capture.sbatch, one task per relation, --ntasks = the model's `ranks`),
# then slurm/analyses.sbatch with --dependency=afterok on all of them (per-model analyses and
# the report). Run it from the directory the config's relative paths are relative to (the
# repository root); the jobs run there.
#
# usage: slurm/submit.sh CONFIG.yaml [--parallel K] [--dry-run] [-- SBATCH_OPTION...]
#   --parallel K   at most K array tasks of one model at a time (default 4; the `%K` of --array)
#   --dry-run      print the sbatch commands instead of running them
#   -- ...         options for every sbatch call, e.g. -- --partition=gpu --account=proj42
# Environment: MOEPROBE (default bin/moeprobe), MOEPROBE_LAUNCH (srun or mpirun), passed on to
# the jobs. Watch with `bin/moeprobe status OUT`; each job's log is moeprobe-*.out here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MOEPROBE=${MOEPROBE:-bin/moeprobe}
export MOEPROBE
usage() { sed -n '8,14p' "$0" | sed 's/^# \{0,1\}//'; }
config= parallel=4 dry=0 extra=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --parallel) parallel=${2:?--parallel needs a number}; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "submit.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [ -z "$config" ] || { echo "submit.sh: one CONFIG.yaml only" >&2; exit 2; }
       config=$1; shift ;;
  esac
done
[ -n "$config" ] || { usage >&2; exit 2; }
[ -x "$MOEPROBE" ] || { echo "submit.sh: $MOEPROBE not found (build with make, or set MOEPROBE)" >&2; exit 1; }

# Validates the config (every problem reported, then exit) and writes OUT/manifest.json.
plan_out=$("$MOEPROBE" plan "$config")
grep -E ': [0-9]+ units|^total:|^manifest:' <<<"$plan_out" || true
layout=$("$MOEPROBE" plan "$config" --array)

submit() {  # prints the job id
  if [ "$dry" = 1 ]; then
    echo "sbatch $*" >&2
    echo "DRYRUN$RANDOM"
  else
    sbatch --parsable "$@" | cut -d';' -f1
  fi
}

ids=()
while read -r kind name first last ranks; do
  [ "$kind" = model ] || continue
  opts=(--job-name="moeprobe-$name" --array="$first-$last%$parallel")
  [ "$ranks" != 0 ] && opts+=(--ntasks="$ranks")
  id=$(submit "${opts[@]}" "${extra[@]}" "$here/capture.sbatch" "$config")
  echo "capture $name: job array $id (groups $first-$last, ${ranks/#0/default} ranks)"
  ids+=("$id")
done <<<"$layout"
read -r _ final franks < <(grep '^final ' <<<"$layout")
opts=(--job-name=moeprobe-analyses --dependency="afterok:$(IFS=:; echo "${ids[*]}")")
[ "$franks" != 0 ] && opts+=(--ntasks="$franks")
aid=$(submit "${opts[@]}" "${extra[@]}" "$here/analyses.sbatch" "$config")
echo "analyses: job $aid (group $final, after the capture arrays)"
out=$("$MOEPROBE" config --print "$config" | awk '$1 == "out:" {print $2}')
echo "watch: $MOEPROBE status $out    logs: moeprobe-*.out    report: $out/report/"
