#!/usr/bin/env bash
# Issue 27, approach "folding penalty and augmentation" on Montgomery: fine-tune the best
# paper-settings training (seed 1, trained further) with the folding penalty while each
# training image and its mask move by their own random affine map (train-reg --augment-*).
# Finished runs are skipped, interrupted ones resumed. Needs ACREGNET_DATA.
#   usage: bash experiments/default-model/train-montgomery.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=experiments/montgomery/runs
stage() {  # run init lambda iterations learning-rate rotation scale shift
  local run=$1 init=$2 lambda=$3 iterations=$4 rate=$5 rotation=$6 scale=$7 shift=$8
  [ -f "$run/model.json" ] && return 0
  local resume=()
  [ -f "$run/config.toml" ] && resume=(--resume)
  acregnet train-reg --dataset montgomery --variant ac-regnet --ae-run montgomery-ae --init-from "$init" \
    --lambda-fold "$lambda" --augment-rotation "$rotation" --augment-scale "$scale" --augment-shift "$shift" \
    --iterations "$iterations" --learning-rate "$rate" --lr-schedule cosine --seed 0 -o "$run" --quiet "${resume[@]}"
}
stage $runs/montgomery-ac-regnet-aug-fold $runs/montgomery-ac-regnet-seed1-further 10 2500 3e-4 5 0.1 0.05
# Two ways on: the same augmentation at a lower rate, or a stronger one.
stage $runs/montgomery-ac-regnet-aug-fold100 $runs/montgomery-ac-regnet-aug-fold 100 1500 1e-4 5 0.1 0.05
stage $runs/montgomery-ac-regnet-aug2-fold100 $runs/montgomery-ac-regnet-aug-fold 100 2500 3e-4 10 0.2 0.1
# The same augmentation, trained on at lambda_fold 100.
stage $runs/montgomery-ac-regnet-aug-fold100b $runs/montgomery-ac-regnet-aug-fold100 100 2000 1e-4 5 0.1 0.05
