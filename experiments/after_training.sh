#!/usr/bin/env bash
# After experiments/train.sh DATASET: evaluate the trained variants against identity (and
# elastix with ELASTIX=1), bundle the AC-RegNet as data/models/DATASET, and measure the
# applications (segmentation, quality control) with it. Needs ACREGNET_DATA.
#   experiments/after_training.sh montgomery
#   ELASTIX=1 JOBS=2 experiments/after_training.sh shenzhen
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/after_training.sh DATASET}
RUNS=${RUNS:-runs}
OUT=experiments/$DATASET
mkdir -p "$OUT"
methods=(--method "ac-regnet=$RUNS/$DATASET-ac-regnet" --method "ac-regnet-2pass=$RUNS/$DATASET-ac-regnet,passes=2"
         --method identity)
for variant in regnet ce-regnet ae-regnet; do
  if [ -f "$RUNS/$DATASET-$variant/summary.json" ]; then methods+=(--method "$variant=$RUNS/$DATASET-$variant"); fi
done
if [ -n "${ELASTIX:-}" ]; then methods+=(--method elastix --jobs "${JOBS:-2}"); fi
acregnet evaluate --dataset "$DATASET" "${methods[@]}" -o "$OUT/evaluation" --quiet --json > "$OUT/evaluation.json"

python experiments/bundle_model.py "$DATASET" "$RUNS/$DATASET-ac-regnet" "$RUNS/$DATASET-ae" "$OUT/evaluation/summary.md" ac-regnet
for fusion in majority weighted; do
  acregnet segment --atlases "$DATASET:train" --targets-from "$DATASET:test" -o "$OUT/segment-$fusion" \
    --model "$DATASET-paper" --fusion "$fusion" --no-overlay --overwrite --json > /dev/null
  rm -f "$OUT/segment-$fusion"/*_mask.png
done
python experiments/qc_study.py "data/models/$DATASET-paper" "$OUT/qc-study" --dataset "$DATASET" \
  --references "${QC_REFERENCES:-10}" > /dev/null
