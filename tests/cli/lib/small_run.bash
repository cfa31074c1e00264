# small_run.bash — sourced by tests/cli/export.sh and python_reader.sh, which check what reads
# an archive of every analysis. small_run TEST MODEL MODULES: /usr/bin/python3 must import
# MODULES (comma-separated; else "FAIL TEST/python_modules" and the test stops: the deps script
# installs them), then tiny-MODEL runs every analysis but the report on two relations, 4 samples
# each, into $T/out ("PASS TEST/run" or "FAIL TEST/run"), the archive rebuilt once at the end
# (snapshot_every_s: the same file, without a rebuild per unit). Needs B, R, T and PY set.
small_run() {
  local test=$1 model=$2 modules=$3
  if ! $PY -c "import $modules" 2>"$T/import.err"; then
    echo "FAIL $test/python_modules: $(tail -1 "$T/import.err") (run scripts/install-deps.sh)"; exit 1
  fi
  cat > "$T/run.yaml" <<YAML
model: $R/models/tiny-$model
relations: [country_capital_city, adj_antonym]
relations_dir: $R/data/lre
out: $T/out
max_samples: 4
stages: [capture, evaluate, attribute, summarise, block, heads_experts, neurons]
snapshot_every_s: 1e9
YAML
  if "$B" run "$T/run.yaml" >/dev/null 2>"$T/run.err"; then echo "PASS $test/run"
  else echo "FAIL $test/run: $(tail -2 "$T/run.err" | tr '\n' ' ')"; fi
}
