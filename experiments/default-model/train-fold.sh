#!/usr/bin/env bash
# Issue 27, approach "folding penalty": fine-tune the paper-faithful AC-RegNet of each
# dataset with train-reg's folding penalty (--lambda-fold) in three stages, keeping its
# other settings: 1500 iterations at lambda_fold 10 (run D-ac-regnet-fold), then 1000 at
# 100 (D-ac-regnet-fold100) and 1000 at 300 (D-ac-regnet-fold300), each from the one
# before, Adam 1e-4 with cosine decay. Finished runs are skipped, interrupted ones
# resumed. Montgomery starts from its best paper-settings training (seed 1, trained
# further; experiments/montgomery/train-further).
#   usage: bash experiments/default-model/train-fold.sh [DATASET...]     (needs ACREGNET_DATA)
set -euo pipefail
cd "$(dirname "$0")/../.."
declare -A START=([jsrt]=jsrt-paper [montgomery]=experiments/montgomery/runs/montgomery-ac-regnet-seed1-further
                  [shenzhen]=shenzhen-paper)
source experiments/default-model/stage.sh
for d in ${@:-jsrt shenzhen montgomery}; do
  runs=experiments/$d/runs
  stage "$d" "$runs/$d-ac-regnet-fold" "${START[$d]}" 10 1500 1e-4
  stage "$d" "$runs/$d-ac-regnet-fold100" "$runs/$d-ac-regnet-fold" 100 1000 1e-4
  stage "$d" "$runs/$d-ac-regnet-fold300" "$runs/$d-ac-regnet-fold100" 300 1000 1e-4
done
