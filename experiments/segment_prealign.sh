#!/usr/bin/env bash
# Multi-atlas segmentation of the test fold with the training fold as atlases (the
# bundled model, k = 5, both fusions) without and with a global affine pre-alignment
# before the network (`segment --prealign affine`, an extension), compared per target
# by experiments/compare_segmentations.py. Needs ACREGNET_DATA.
#   experiments/segment_prealign.sh montgomery     # -> experiments/montgomery/segment-prealign/
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/segment_prealign.sh DATASET}
OUT=experiments/$DATASET/segment-prealign
for fusion in majority weighted; do
  runs=()
  for kind in none affine; do
    prealign=()
    [ "$kind" != none ] && prealign=(--prealign "$kind")
    acregnet segment --atlases "$DATASET:train" --targets-from "$DATASET:test" -o "$OUT/$fusion-$kind" \
      --model "$DATASET-paper" --fusion "$fusion" "${prealign[@]}" --no-overlay --overwrite --json > /dev/null
    rm -f "$OUT/$fusion-$kind"/*_mask.png
    runs+=("$kind=$OUT/$fusion-$kind")
  done
  python experiments/compare_segmentations.py "${runs[@]}" -o "$OUT/comparison-$fusion.md"
done
