#!/usr/bin/env bash
# Trained further (experiments/train_further.sh) against the paper-length runs it started
# from: the bundled AC-RegNet (seed 0) and its further-trained run, AC-RegNet with seed 1
# and its further-trained run, on the paper's test pairs, in their own folder (Bonferroni
# over these methods only). Needs ACREGNET_DATA.
#   experiments/evaluate_train_further.sh montgomery     # -> experiments/montgomery/train-further/
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/evaluate_train_further.sh DATASET}
RUNS=experiments/$DATASET/runs
source experiments/runs.sh
methods=(--method "ac-regnet=$DATASET-paper")
add_finished "$RUNS/$DATASET"-ac-regnet-{further,seed1,seed1-further}
evaluate_methods "experiments/$DATASET/train-further"
