#!/usr/bin/env bash
# Regularity of the fields of the models trained on DATASET (experiments/field_regularity.py):
# the bundled AC-RegNet, the other variants and extensions whose weights are kept in
# experiments/DATASET/runs/, on the paper's test pairs (seed 0), and the original release's
# JSRT model if ORIGINAL names an `acregnet import-tf1` folder. Needs ACREGNET_DATA.
#   experiments/field_regularity.sh montgomery      # -> experiments/montgomery/field-regularity/
#   ORIGINAL=/tmp/orig-jsrt experiments/field_regularity.sh jsrt
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/field_regularity.sh DATASET}
RUNS=experiments/$DATASET/runs
source experiments/runs.sh
methods=(--method "ac-regnet=$DATASET-paper" --method "ac-regnet-2pass=$DATASET-paper,passes=2")
add_finished "$RUNS/$DATASET"-{ae-regnet,ce-regnet,regnet,ac-regnet-further,ac-regnet-seed1,ae-regnet-seed1} \
  "$RUNS/$DATASET"-ac-regnet-{svf7,cosine} || true
if [ -n "${ORIGINAL:-}" ]; then methods+=(--method "original-release=$ORIGINAL"); fi
python experiments/field_regularity.py "$DATASET" "${methods[@]}" -o "experiments/$DATASET/field-regularity"
