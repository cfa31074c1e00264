#!/usr/bin/env bash
# Installs the Debian packages moeprobe builds and runs with. Idempotent: apt-get runs only when
# something is missing, so the README's commands can call it every time.
set -euo pipefail
PKGS=(build-essential pkg-config git
      openmpi-bin libopenmpi-dev
      libhdf5-dev hdf5-tools
      libopenblas-dev
      libyaml-dev libjansson-dev libpcre2-dev libutf8proc-dev
      gnuplot-nox python3
      iproute2 util-linux  # ip netns / unshare: the nodes of tests/cli/multinode.sh
      python3-numpy python3-h5py python3-xarray python3-h5netcdf python3-netcdf4 python3-pandas
      python3-pip python3-setuptools python3-wheel  # archive checks, python/moeprobe and pip install ./python
      python3-venv  # make bench: bench/venv.sh makes .bench-venv (the HF baseline)
      librsvg2-bin  # rsvg-convert: the report's PNG checks (tests/cli/report.sh)
      clang libclang-rt-14-dev
      clang-format-14  # clang + libFuzzer runtime: make fuzz, tests/cli/fuzz_short.sh
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user file)  # aarch64 under qemu: tests/cli/arm_qemu.sh
[ "${MOEPROBE_DEPS_EXTRA:-}" ] && read -r -a extra <<<"$MOEPROBE_DEPS_EXTRA" && PKGS+=("${extra[@]}")
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # another apt-get (a test installing Slurm, an unattended upgrade) may hold the dpkg lock
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=300
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# Debian's arm64 builds of the libraries moeprobe links, unpacked into a cache folder (not
# installed: the host's dpkg is untouched) for the aarch64 cross build; a no-op when present.
"$(dirname "$0")/arm64-sysroot.sh"
