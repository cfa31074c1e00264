#!/usr/bin/env bash
# Cross-builds moeprobe and test programs for aarch64 into build-arm64/ and bin-arm64/: Debian's
# gcc-aarch64-linux-gnu against the arm64 sysroot of scripts/arm64-sysroot.sh, the same
# Makefile and flags as the release build less the x86 ones (-march, -mavx2 ...). Run the
# results with `qemu-aarch64 -L SYSROOT bin-arm64/moeprobe ...` (tests/cli/arm_qemu.sh does).
#   scripts/cross-arm64.sh [make targets]   (default: what tests/cli/arm_qemu.sh runs;
#                                            `all` builds every program)
set -euo pipefail
cd "$(dirname "$0")/.."
SR=$(scripts/arm64-sysroot.sh --check)
export PKG_CONFIG_SYSROOT_DIR=$SR
export PKG_CONFIG_LIBDIR=$SR/usr/lib/aarch64-linux-gnu/pkgconfig:$SR/usr/share/pkgconfig
PKGS="hdf5 openblas yaml-0.1 jansson libpcre2-8 libutf8proc ompi-c"
cflags=$(pkg-config --cflags $PKGS)
libs=$(pkg-config --libs $PKGS)
# a make that called this one (make test) must not hand its job server or variables down
unset MAKEFLAGS MFLAGS MAKELEVEL
TARGETS=(bin-arm64/moeprobe bin-arm64/tests/test_kern bin-arm64/tests/test_forward_golden
         bin-arm64/tests/test_tokenizer)
[ $# -gt 0 ] && TARGETS=("$@")
# -O2 as the release build; no -g (compile time; nothing debugs under qemu here)
exec make -j"$(nproc)" CC="aarch64-linux-gnu-gcc --sysroot=$SR" OPT=-O2 BUILD=build-arm64 \
  BIN=bin-arm64 PKG_CFLAGS="$cflags" PKG_LIBS="$libs" "${TARGETS[@]}"
