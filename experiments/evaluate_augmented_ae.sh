#!/usr/bin/env bash
# Extension: the variants trained with the mask-augmented autoencoder
# (AE_AUGMENT=... experiments/train.sh, runs DATASET-VARIANT-aeaug kept in
# experiments/DATASET/runs/) against the paper's AC-RegNet and AE-RegNet trained here (seed
# 0) and, where present, the AC-RegNet trained further, on the paper's test pairs (seed
# 0), in their own folder so that Table 1's statistics stay those of its methods.
# Runs trained with another code-distance weight (LAMBDA_AE=0.33 experiments/train.sh, runs
# DATASET-VARIANT-aeaug-lae0.33) join them, to separate the code's scale from its quality.
# Needs ACREGNET_DATA.
#   experiments/evaluate_augmented_ae.sh montgomery
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/evaluate_augmented_ae.sh DATASET}
RUNS=experiments/$DATASET/runs
source experiments/runs.sh
methods=()
if ! TWIN_PASSES=2 add_finished "$RUNS/$DATASET"-{ac,ae}-regnet-aeaug{,-lae*}; then
  echo "no finished run trained with the augmented autoencoder in $RUNS" >&2
  exit 1
fi
methods+=(--method "ac-regnet=$DATASET-paper")
add_finished "$RUNS/$DATASET-ae-regnet" "$RUNS/$DATASET-ac-regnet-further" || true
evaluate_methods "experiments/$DATASET/augmented-ae"
