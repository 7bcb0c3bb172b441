#!/usr/bin/env bash
# Issue 27, approach "folding penalty and augmentation" on Montgomery: fine-tune the best
# paper-settings training (seed 1, trained further) with the folding penalty while each
# training image and its mask move by their own random affine map (train-reg --augment-*).
# Finished runs are skipped, interrupted ones resumed. Needs ACREGNET_DATA.
#   usage: bash experiments/default-model/train-montgomery.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=experiments/montgomery/runs
source experiments/default-model/stage.sh
augment() { echo --augment-rotation "$1" --augment-scale "$2" --augment-shift "$3"; }
stage montgomery $runs/montgomery-ac-regnet-aug-fold $runs/montgomery-ac-regnet-seed1-further 10 2500 3e-4 $(augment 5 0.1 0.05)
# Two ways on: the same augmentation at a lower rate, or a stronger one.
stage montgomery $runs/montgomery-ac-regnet-aug-fold100 $runs/montgomery-ac-regnet-aug-fold 100 1500 1e-4 $(augment 5 0.1 0.05)
stage montgomery $runs/montgomery-ac-regnet-aug2-fold100 $runs/montgomery-ac-regnet-aug-fold 100 2500 3e-4 $(augment 10 0.2 0.1)
# The same augmentation, trained on at lambda_fold 100.
stage montgomery $runs/montgomery-ac-regnet-aug-fold100b $runs/montgomery-ac-regnet-aug-fold100 100 2000 1e-4 $(augment 5 0.1 0.05)
