#!/usr/bin/env bash
# Regenerates the key reference in configs/README.md from `moeprobe config --explain` (the key
# tables are the single source; tests/cli/plan_status.sh checks that they agree).
#   scripts/gen-configs-readme.sh [bin/moeprobe]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-bin/moeprobe}
readme=configs/README.md
begin='<!-- BEGIN moeprobe config --explain -->'
end='<!-- END moeprobe config --explain -->'
grep -qF "$begin" "$readme" && grep -qF "$end" "$readme" || { echo "$readme: markers missing" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  sed -n "1,/^$begin\$/p" "$readme"
  echo '```text'
  "$B" config --explain
  echo '```'
  sed -n "/^$end\$/,\$p" "$readme"
} > "$tmp"
mv "$tmp" "$readme"
trap - EXIT
echo "updated $readme"
