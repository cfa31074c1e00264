#!/usr/bin/env bash
# Builds the arm64 sysroot that tests/cli/arm_qemu.sh links against (aarch64-linux-gnu-gcc
# --sysroot) and runs in (qemu-aarch64 -L): Debian's own arm64 builds of the libraries
# moeprobe links (HDF5, Open MPI, OpenBLAS, libyaml, jansson, PCRE2, utf8proc) and glibc,
# unpacked, never installed. A private apt state (arm64 only) resolves and downloads them, so
# the host's dpkg database is untouched: adding arm64 as a foreign architecture would make
# every later apt-get on the machine fetch arm64 lists, and libhdf5-dev is not Multi-Arch:
# same (its amd64 and arm64 packages cannot be installed together) anyway.
#   scripts/arm64-sysroot.sh [DIR]   builds it (default $MOEPROBE_ARM64_SYSROOT, else
#                                    ~/.cache/moeprobe/arm64-sysroot)
#   scripts/arm64-sysroot.sh --check prints the folder when it is complete, else fails
# Idempotent: does nothing when DIR/.complete names the same package list. Called by
# scripts/install-deps.sh; needs only apt-get and dpkg-deb (no root); 57 MB downloaded (package
# lists included), 243 MB unpacked.
set -euo pipefail
CHECK=0
[ "${1:-}" = --check ] && CHECK=1 && shift
DIR=${1:-${MOEPROBE_ARM64_SYSROOT:-${HOME:-/root}/.cache/moeprobe/arm64-sysroot}}
# runtime libraries with everything they depend on (apt resolves the closure)
RUNTIME=(libc6 libgcc-s1 libhdf5-103-1 libhdf5-hl-100 libopenmpi3 libopenblas0-pthread
         libyaml-0-2 libjansson4 libpcre2-8-0 libutf8proc2)
# headers, .so links and pkg-config files only: their own dependencies (gfortran, curl, ssl,
# jquery...) are not needed to compile and link, so these are downloaded without them
DEV=(libc6-dev linux-libc-dev libcrypt-dev libhdf5-dev libopenmpi-dev libopenblas-dev
     libopenblas-pthread-dev libyaml-dev libjansson-dev libpcre2-dev libutf8proc-dev)
WANT="v1 ${RUNTIME[*]} | ${DEV[*]}"
if [ -f "$DIR/.complete" ] && [ "$(cat "$DIR/.complete")" = "$WANT" ]; then
  [ $CHECK = 1 ] && echo "$DIR"
  exit 0
fi
if [ $CHECK = 1 ]; then
  echo "arm64-sysroot: $DIR is missing or out of date (scripts/install-deps.sh builds it)" >&2
  exit 1
fi
echo "arm64-sysroot: building $DIR" >&2
WORK="$DIR.work"
rm -rf "$WORK" "$DIR"
mkdir -p "$WORK"/{state/lists/partial,cache/archives/partial,dev} "$DIR"
: >"$WORK/status"
APT=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o "Dir::State=$WORK/state"
     -o "Dir::State::status=$WORK/status" -o "Dir::Cache=$WORK/cache"
     -o "Dir::Cache::archives=$WORK/cache/archives" -o Debug::NoLocking=1
     -o APT::Sandbox::User=root -o DPkg::Lock::Timeout=300 -q)
apt-get "${APT[@]}" update >&2
apt-get "${APT[@]}" install -y --download-only --no-install-recommends "${RUNTIME[@]}" >&2
(cd "$WORK/dev" && apt-get "${APT[@]}" download "${DEV[@]}" >&2)
for deb in "$WORK"/cache/archives/*.deb "$WORK"/dev/*.deb; do
  dpkg-deb -x "$deb" "$DIR"
done
# What the packages' maintainer scripts would have done (update-alternatives), as links
# inside the sysroot: the default OpenBLAS and the serial HDF5's pkg-config name.
MA=usr/lib/aarch64-linux-gnu
ln -sfn openblas-pthread/libopenblas.so.0 "$DIR/$MA/libopenblas.so.0"
ln -sfn openblas-pthread/libopenblas.so "$DIR/$MA/libopenblas.so"
ln -sfn ../openblas-pthread/pkgconfig/openblas.pc "$DIR/$MA/pkgconfig/openblas.pc"
[ -e "$DIR/$MA/pkgconfig/hdf5.pc" ] || ln -sfn hdf5-serial.pc "$DIR/$MA/pkgconfig/hdf5.pc"
# Absolute links point into the host when seen from outside the sysroot: make them relative.
find "$DIR" -type l -lname '/*' | while read -r l; do
  t=$(readlink "$l")
  ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$DIR$t")" "$l"
done
rm -rf "$WORK"
echo "$WANT" >"$DIR/.complete"
echo "arm64-sysroot: done ($(du -sh "$DIR" | cut -f1))" >&2
