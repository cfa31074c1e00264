# tool_check.bash — sourced by tests/cli/*.sh. tool_check LABEL TOOL ARGS... runs a comparison
# tool of tests/tools (metrics_cmp, summary_cmp, he_cmp, neurons_check) that prints its own
# PASS/FAIL lines, passes them on, and makes its exit status count: a tool that crashes or stops
# after some PASS lines, exits 0 after a FAIL, or prints no check at all adds a FAIL line, so a
# partial comparison never reads as a clean one. Nothing is added when status and lines agree
# (each check is counted once). Returns the tool's exit status.
tool_check() {
  local label=$1; shift
  local out rc nf np
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out"
  nf=$(grep -c '^FAIL ' <<<"$out"); np=$(grep -c '^PASS ' <<<"$out")
  if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
    echo "FAIL $label/tool_exit: $(basename "$1") exited with status $rc without a FAIL line: $(tail -2 <<<"$out" | tr '\n' '|')"
  elif [ "$rc" -eq 0 ] && [ "$nf" -ne 0 ]; then
    echo "FAIL $label/tool_exit: $(basename "$1") exited 0 after $nf FAIL lines"
  elif [ "$np" -eq 0 ] && [ "$nf" -eq 0 ]; then
    echo "FAIL $label/tool_exit: $(basename "$1") printed no check (exit $rc)"
  fi
  return "$rc"
}
