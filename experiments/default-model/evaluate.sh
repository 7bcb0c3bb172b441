#!/usr/bin/env bash
# Issue 27: which model should `jsrt`, `montgomery`, `shenzhen` be by default?
# Evaluates, on the paper's protocol (seed 0), the bundled paper-faithful AC-RegNet against
# the velocity-field AC-RegNet (--integration-steps 7) with one, two and three passes.
# Needs ACREGNET_DATA.   usage: bash experiments/default-model/evaluate.sh [DATASET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
for d in "${@:-jsrt montgomery shenzhen}"; do
  for dataset in $d; do
    runs=experiments/$dataset/runs
    methods=(--method identity --method "paper=$dataset-paper" --method "svf7=$runs/$dataset-ac-regnet-svf7"
             --method "svf7-2pass=$runs/$dataset-ac-regnet-svf7,passes=2"
             --method "svf7-3pass=$runs/$dataset-ac-regnet-svf7,passes=3")
    if [ -f "$runs/$dataset-ac-regnet-svf7-further/model.json" ]; then
      methods+=(--method "svf7-further=$runs/$dataset-ac-regnet-svf7-further"
                --method "svf7-further-2pass=$runs/$dataset-ac-regnet-svf7-further,passes=2")
    fi
    if [ -f "$runs/$dataset-ac-regnet-fold/model.json" ]; then
      methods+=(--method "paper-2pass=$dataset-paper,passes=2" --method "fold=$runs/$dataset-ac-regnet-fold"
                --method "fold-2pass=$runs/$dataset-ac-regnet-fold,passes=2")
    fi
    acregnet evaluate --dataset "$dataset" "${methods[@]}" -o "experiments/default-model/$dataset" \
      --figure-pairs 0 --quiet
  done
done
