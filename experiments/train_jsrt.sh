#!/usr/bin/env bash
# Stage one and two of AC-RegNet on JSRT with the paper's settings (18000 iterations each).
# Resumable: rerun the same script after an interruption. Needs ACREGNET_DATA.
# RUNS defaults to runs/ (not committed); logs and summaries are copied to experiments/jsrt/.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
resume() { [ -d "$1/checkpoints" ] && echo --resume || true; }

acregnet train-ae --dataset jsrt -o "$RUNS/jsrt-ae" $(resume "$RUNS/jsrt-ae") --quiet
for variant in ${VARIANTS:-ac-regnet}; do
  acregnet train-reg --dataset jsrt --variant "$variant" --ae-run "$RUNS/jsrt-ae" \
    -o "$RUNS/jsrt-$variant" $(resume "$RUNS/jsrt-$variant")
done

for run in "$RUNS"/jsrt-*; do
  name=$(basename "$run")
  mkdir -p "experiments/jsrt/$name"
  cp "$run"/{config.toml,log.csv,summary.json,model.json} "experiments/jsrt/$name/" 2>/dev/null || true
done
