#!/usr/bin/env bash
# The C sources follow .clang-format (100 columns): `make format-check` must pass. On failure
# the first differing places are shown; `make format` fixes them.
cd "${MOEPROBE_ROOT:-$(dirname "$0")/../..}"
if out=$(make -s format-check 2>&1); then
  echo "PASS format/clang_format_clean ($(git ls-files '*.c' '*.h' | wc -l) files)"
else
  echo "FAIL format/clang_format_clean: $(echo "$out" | grep -c 'error:') places differ, e.g.:"
  echo "$out" | head -12
fi
