#!/usr/bin/env bash
# Issue 27, approach "folding penalty": fine-tune the paper-faithful AC-RegNet of each
# dataset with train-reg's folding penalty (--lambda-fold), keeping its other settings.
# Resumes an interrupted run.   usage: bash experiments/default-model/train-fold.sh [DATASET...]
# Needs ACREGNET_DATA.
set -euo pipefail
cd "$(dirname "$0")/../.."
ITERATIONS=${ITERATIONS:-1500}
LAMBDA_FOLD=${LAMBDA_FOLD:-10}
declare -A START=([jsrt]=jsrt [montgomery]=experiments/montgomery/runs/montgomery-ac-regnet-seed1-further
                  [shenzhen]=shenzhen)
for dataset in "${@:-jsrt shenzhen montgomery}"; do
  for d in $dataset; do
    run=experiments/$d/runs/$d-ac-regnet-fold
    resume=()
    [ -f "$run/config.toml" ] && resume=(--resume)
    [ -f "$run/model.json" ] && continue
    acregnet train-reg --dataset "$d" --variant ac-regnet --ae-run "$d-ae" --init-from "${START[$d]}" \
      --lambda-fold "$LAMBDA_FOLD" --iterations "$ITERATIONS" --learning-rate 1e-4 --lr-schedule cosine \
      --seed 0 -o "$run" --quiet "${resume[@]}"
  done
done
