#!/usr/bin/env bash
# After experiments/train_jsrt.sh: evaluate, bundle the model, and measure the applications.
# ORIGINAL (optional): a folder made by `acregnet import-tf1` from the original release's checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
OUT=experiments/jsrt
mkdir -p "$OUT"
methods=(--method "ac-regnet=$RUNS/jsrt-ac-regnet" --method identity)
if [ -n "${ORIGINAL:-}" ]; then methods+=(--method "original-release=$ORIGINAL"); fi
for variant in regnet ce-regnet ae-regnet; do
  if [ -f "$RUNS/jsrt-$variant/vector_cnn.weights.h5" ]; then methods+=(--method "$variant=$RUNS/jsrt-$variant"); fi
done
if [ -n "${ELASTIX:-}" ]; then methods+=(--method elastix --jobs "${JOBS:-2}"); fi
acregnet evaluate --dataset jsrt "${methods[@]}" -o "$OUT/evaluation" --quiet --json > "$OUT/evaluation.json"

python experiments/bundle_model.py jsrt "$RUNS/jsrt-ac-regnet" "$RUNS/jsrt-ae" "$OUT/evaluation/summary.md" ac-regnet
python experiments/phantom_study.py --pairs 50 --out "$OUT/phantoms.json"
acregnet segment --atlases jsrt:train --targets-from jsrt:test -o "$OUT/segment-majority" --model jsrt-paper --no-overlay --overwrite --json > /dev/null
acregnet segment --atlases jsrt:train --targets-from jsrt:test -o "$OUT/segment-weighted" --model jsrt-paper --fusion weighted --no-overlay --overwrite --json > /dev/null
rm -f "$OUT"/segment-*/*_mask.png
acregnet experiment plausibility --dataset jsrt --ae-run "$RUNS/jsrt-ae" -o "$OUT/plausibility"
python experiments/qc_study.py data/models/jsrt-paper "$OUT/qc-study" --references "${QC_REFERENCES:-10}" > /dev/null
for run in "$RUNS"/jsrt-*; do
  name=$(basename "$run"); mkdir -p "$OUT/runs/$name"
  cp "$run"/{config.toml,log.csv,summary.json,model.json} "$OUT/runs/$name/" 2>/dev/null || true
done
