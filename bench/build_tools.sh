#!/usr/bin/env bash
# build_tools.sh OUT [BUILD [EXTRA_CFLAGS...]] — compiles the bench programs against
# BUILD/libmoeprobe.a (default build) into OUT: forward_bench, kern_bench, product_replay. One
# place for their compile line: bench_forward.sh, bench_multinode.sh and tests/cli/bench_tools.sh
# (which links the sanitizer build's library with -fsanitize=...) use it.
set -u
OUT=$1 BUILD=${2:-build}
shift $(($# < 2 ? $# : 2))
mkdir -p "$OUT" || exit 1
for p in forward_bench kern_bench product_replay; do
  cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. "$@" $(pkg-config --cflags hdf5 openblas ompi-c) \
    -o "$OUT/$p" "bench/$p.c" "$BUILD/libmoeprobe.a" \
    $(pkg-config --libs hdf5 openblas yaml-0.1 jansson libpcre2-8 libutf8proc ompi-c) \
    -lhdf5_hl -lm -lpthread || exit 1
done
