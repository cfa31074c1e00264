#!/usr/bin/env bash
# The aarch64 kernel path (pipeline/ops/kern_neon.c) for real: cross-built with Debian's
# gcc-aarch64-linux-gnu (static, so no arm64 libraries are needed) and run under qemu-user:
# tests/unit/test_kern there checks that the NEON and portable paths sum every output in
# kern.h's documented order — the same bits as the x86 paths — split over threads, row by row
# and accurately. Correctness only: qemu says nothing about speed. The golden forward test,
# the tokenizer golden test and a trace smoke test need HDF5, Open MPI, libyaml, jansson, PCRE2
# and utf8proc for arm64 (a multiarch sysroot): not built here yet (issue #12 point 3).
# Missing tools are a failure, not a skip: scripts/install-deps.sh installs them.
set -u
R=$MOEPROBE_ROOT; T=$MOEPROBE_TEST_TMP/arm_qemu; mkdir -p "$T"
CC=aarch64-linux-gnu-gcc
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static)
if ! command -v "$CC" >/dev/null || [ -z "$QEMU" ]; then
  echo "FAIL arm_qemu/tools: need $CC and qemu-aarch64 (scripts/install-deps.sh installs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user)"
  exit 0
fi
SRC=(tests/unit/test_kern.c tests/unit/check.c pipeline/ops/kern_neon.c pipeline/ops/kern_generic.c
     pipeline/ops/kern_avx2.c pipeline/ops/kern_avx512.c pipeline/ops/gemm.c pipeline/model/dtype.c
     pipeline/util/local_ranks.c)
if (cd "$R" && "$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
      -Wno-format-truncation -O2 -I. -static -o "$T/test_kern" "${SRC[@]}" -lm -lpthread) 2>"$T/cc.err"; then
  echo "PASS arm_qemu/cross_build"
else
  echo "FAIL arm_qemu/cross_build: $(head -5 "$T/cc.err")"; exit 0
fi
file "$T/test_kern" 2>/dev/null | grep -q aarch64 && echo "PASS arm_qemu/binary_is_aarch64" \
  || echo "FAIL arm_qemu/binary_is_aarch64: $(file "$T/test_kern" 2>&1)"
"$QEMU" "$T/test_kern" >"$T/out" 2>&1; rc=$?
pass=$(grep -c '^PASS ' "$T/out"); fail=$(grep -c '^FAIL ' "$T/out")
paths=$(sed -n 's/^INFO kernel paths run on this CPU: //p' "$T/out")
echo "INFO arm_qemu: test_kern under qemu-aarch64: $pass checks passed, $fail failed, paths: $paths"
grep '^FAIL ' "$T/out" | head -5 | sed 's/^FAIL /FAIL arm_qemu\//'
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$pass" -gt 1000 ] && echo "PASS arm_qemu/test_kern_neon" \
  || echo "FAIL arm_qemu/test_kern_neon: exit $rc, $pass passed, $fail failed"
[ "$paths" = "neon generic" ] && echo "PASS arm_qemu/neon_path_selected" \
  || echo "FAIL arm_qemu/neon_path_selected: paths '$paths' (expected 'neon generic')"
