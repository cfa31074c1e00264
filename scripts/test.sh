#!/usr/bin/env bash
# Installs the Debian packages when something is missing, builds, and runs every test
# (`make test`: unit and golden tests, CLI tests, the one-node Slurm test). Ends with
# "N passed, N failed"; exit status 0 only when nothing failed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)"
make test
