#!/usr/bin/env bash
# Extension: the variants trained with the mask-augmented autoencoder
# (AE_AUGMENT=... results/train.sh, runs DATASET-VARIANT-aeaug kept in
# results/DATASET/runs/) against the paper's AC-RegNet and AE-RegNet trained here (seed
# 0) and, where present, the AC-RegNet trained further, on the paper's test pairs (seed
# 0), in their own folder so that Table 1's statistics stay those of its methods.
# Runs trained with another code-distance weight (LAMBDA_AE=0.33 results/train.sh, runs
# DATASET-VARIANT-aeaug-lae0.33) join them, to separate the code's scale from its quality.
# Needs ACREGNET_DATA.
#   results/evaluate_augmented_ae.sh montgomery
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: results/evaluate_augmented_ae.sh DATASET}
RUNS=results/$DATASET/runs
OUT=results/$DATASET/augmented-ae
source results/runs.sh
methods=()
for run in "$RUNS/$DATASET"-{ac,ae}-regnet-aeaug{,-lae*}; do
  name=${run#"$RUNS/$DATASET-"}
  trained "$run" && methods+=(--method "$name=$run" --method "$name-2pass=$run,passes=2")
done
if [ ${#methods[@]} -eq 0 ]; then
  echo "no finished run trained with the augmented autoencoder in $RUNS" >&2
  exit 1
fi
methods+=(--method "ac-regnet=$DATASET")
trained "$RUNS/$DATASET-ae-regnet" && methods+=(--method "ae-regnet=$RUNS/$DATASET-ae-regnet")
trained "$RUNS/$DATASET-ac-regnet-further" && methods+=(--method "ac-regnet-further=$RUNS/$DATASET-ac-regnet-further")
acregnet evaluate --dataset "$DATASET" "${methods[@]}" -o "$OUT" --quiet > /dev/null
cat "$OUT/summary.md"
