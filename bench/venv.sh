#!/usr/bin/env bash
# Creates .bench-venv with the baselines moeprobe is measured against (Hugging Face tokenizers,
# transformers, torch CPU). Prints the venv's python path. Only benchmarks use it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
V="$ROOT/.bench-venv"
if [ ! -x "$V/bin/python" ]; then
  if ! python3 -m venv "$V" >&2; then
    rm -rf "$V"
    echo "bench/venv.sh: 'python3 -m venv $V' failed ($(command -v python3)); on Debian install python3-venv (scripts/install-deps.sh does)" >&2
    exit 1
  fi
fi
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(tokenizers)
missing=()
for p in "${want[@]}"; do
  "$V/bin/python" -c "import ${p//-/_}" 2>/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  "$V/bin/pip" install -q "${missing[@]}" >&2
fi
echo "$V/bin/python"
