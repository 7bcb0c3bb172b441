#!/usr/bin/env bash
# Stage one (autoencoder) and stage two (VectorCNN variants) with the paper's settings
# (18000 iterations each) on one dataset. Resumable: rerun after an interruption.
#   results/train.sh DATASET            # autoencoder + ac-regnet
#   VARIANTS="regnet ce-regnet" results/train.sh jsrt
# Needs ACREGNET_DATA. RUNS defaults to runs/ (not committed); the run records
# (config, log, summary, model description, console log) are copied to results/DATASET/runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: results/train.sh DATASET}
RUNS=${RUNS:-runs}
mkdir -p "$RUNS"
resume() { [ -d "$1/checkpoints" ] && echo --resume || true; }
record() {
  local run=$1 dest="results/$DATASET/runs/$(basename "$1")"
  mkdir -p "$dest"
  cp "$run"/{config.toml,log.csv,summary.json,model.json} "$dest/" 2>/dev/null || true
  [ -f "$run.log" ] && tr '\r' '\n' < "$run.log" | grep -v '^\s*$' | tail -n 40 > "$dest/console.log" || true
  python -c 'import platform, os; print(f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cores")' > "$dest/machine.txt"
}

ae="$RUNS/$DATASET-ae"
# summary.json is written when a run has finished all its iterations.
if [ ! -f "$ae/summary.json" ]; then
  acregnet train-ae --dataset "$DATASET" -o "$ae" $(resume "$ae") --quiet 2>&1 | tee -a "$ae.log" >/dev/null
fi
record "$ae"
for variant in ${VARIANTS:-ac-regnet}; do
  run="$RUNS/$DATASET-$variant"
  if [ ! -f "$run/summary.json" ]; then
    acregnet train-reg --dataset "$DATASET" --variant "$variant" --ae-run "$ae" \
      -o "$run" $(resume "$run") --quiet 2>&1 | tee -a "$run.log" >/dev/null
  fi
  record "$run"
done
