#!/usr/bin/env bash
# Issue 27: which model should `jsrt`, `montgomery`, `shenzhen` be by default?
# Evaluates on the paper's protocol (seed 0) the paper-faithful AC-RegNet (`D-paper`),
# one and two passes, against every candidate trained for the study that is present in
# experiments/D/runs/ (velocity fields, the folding-penalty stages, augmentation), each
# with one and two passes, and the bundled default (`D`). Results already cached in the
# output folder are reused.   usage: bash experiments/default-model/evaluate.sh [DATASET...]
# Needs ACREGNET_DATA.
set -euo pipefail
cd "$(dirname "$0")/../.."
CANDIDATES="svf7 seed1-further fold fold100 fold300 aug-fold aug-fold100 aug2-fold100 aug-fold100b"
for d in ${@:-jsrt montgomery shenzhen}; do
  runs=experiments/$d/runs
  methods=(--method identity --method "paper=$d-paper" --method "paper-2pass=$d-paper,passes=2")
  for name in $CANDIDATES; do
    run=$runs/$d-ac-regnet-$name
    if [ -f "$run/model.json" ] && [ -f "$run/vector_cnn.weights.h5" ]; then
      methods+=(--method "$name=$run" --method "$name-2pass=$run,passes=2")
    fi
  done
  methods+=(--method "default=$d")
  acregnet evaluate --dataset "$d" "${methods[@]}" -o "experiments/default-model/$d" --figure-pairs 0 --quiet
done
