#!/usr/bin/env bash
# Regenerates docs/archive.md from the archive schema tables (stages/schema_*.c and
# pipeline/archive/schema_root.c, printed by bin/tools/schema_doc); tests/cli/archive_schema.sh
# checks that they agree.
#   scripts/gen-archive-doc.sh [bin]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-bin}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$B/tools/schema_doc" > "$tmp"
mv "$tmp" docs/archive.md
trap - EXIT
echo "updated docs/archive.md"
