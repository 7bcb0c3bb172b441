#!/usr/bin/env bash
# Extension: the variants trained with a decaying learning rate over the paper's 18000
# iterations (LR_SCHEDULE=cosine experiments/train.sh, runs DATASET-VARIANT-cosine kept in
# experiments/DATASET/runs/) against the paper's constant-rate AC-RegNet trained here (the
# bundled model, seed 0) and, where present, its seed-1 twin and the AC-RegNet trained
# 12000 iterations further with a cosine rate (experiments/train_further.sh), on the paper's
# test pairs (seed 0), in their own folder so that Table 1's statistics stay those of its
# methods. Needs ACREGNET_DATA.
#   experiments/evaluate_lr_schedule.sh montgomery
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/evaluate_lr_schedule.sh DATASET}
RUNS=experiments/$DATASET/runs
source experiments/runs.sh
methods=()
if ! add_finished "$RUNS/$DATASET"-*-cosine; then
  echo "no finished run trained with LR_SCHEDULE in $RUNS" >&2
  exit 1
fi
methods+=(--method "ac-regnet=$DATASET-paper")
add_finished "$RUNS/$DATASET-ac-regnet-seed1" "$RUNS/$DATASET-ac-regnet-further" || true
evaluate_methods "experiments/$DATASET/lr-schedule"
